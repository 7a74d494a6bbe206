"""A load job that fails for good marks its load FAILED with a useful reason — beyond synth.

The synthesized state machine definition (as CloudFormation will create it, with the table's name
filled in) runs in moto's Step Functions interpreter (LocalStack's ASL engine: intrinsic
functions, Choice rules, Retry/Catch) for realistic Batch "Job State Change" events. Its one
DynamoDB task, `updateItem`, is sent to the `store` engine under test — moto and DynamoDB Local —
where the load was created and moved by the real `LoadRepository`, and the result is read back
with `LoadRepository.get`. moto's interpreter picks its DynamoDB client with the module-level
`boto_client_for`; the test swaps that one name for the store's client.
"""

from __future__ import annotations

import copy
import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from moto import mock_aws
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
    state_task_service_dynamodb,
)

from infra.reconciler import (
    END_STATES,
    MAX_EVENT_AGE,
    START_RETRY_ATTEMPTS,
    job_failed_pattern,
    load_id_position,
)
from shared.clock import parse_timestamp
from shared.codecs import load_key
from shared.models import BatchLoad, LoadCounts, LoadStatus
from shared.repository.loads import LoadRepository

if TYPE_CHECKING:
    from tests.conftest import Store
    from tests.infra.conftest import Synthesized

REGION = "us-east-1"
QUEUE_ARN = "arn:aws:batch:us-east-1:123456789012:job-queue/LoaderQueue4303D8DD-Xd1HnqYz5wVB"
BUCKET = "order-management-uploads"
EVENT_TIME = "2024-05-16T10:45:21Z"
OUT_OF_MEMORY = "OutOfMemoryError: Container killed due to memory usage"
TASK_EXITED = "Essential container in task exited"
TIMED_OUT = "Job attempt duration exceeded timeout"


# --- the synthesized pieces -------------------------------------------------------------------


def _rule(app: Synthesized) -> dict[str, Any]:
    pipeline = app.deployment.pipeline
    rule_id = app.resolve(pipeline, pipeline.reconciler.rule.rule_name)["Ref"]
    properties: dict[str, Any] = app.template_json(pipeline)["Resources"][rule_id]["Properties"]
    return properties


def _state_machine(app: Synthesized) -> dict[str, Any]:
    (machine,) = app.resources(app.deployment.pipeline, "AWS::StepFunctions::StateMachine").values()
    properties: dict[str, Any] = machine["Properties"]
    return properties


def _render(node: Any, substitutions: dict[str, str]) -> str:
    """A CloudFormation string value with its references replaced by known values."""
    if isinstance(node, str):
        return node
    if isinstance(node, dict) and "Fn::Join" in node:
        delimiter, parts = node["Fn::Join"]
        return str(delimiter).join(_render(part, substitutions) for part in parts)
    return substitutions[json.dumps(node, sort_keys=True)]  # KeyError: an unexpected reference


def definition(app: Synthesized, table_name: str) -> dict[str, Any]:
    """The state machine's definition as deployed, on a table called `table_name`."""
    pipeline = app.deployment.pipeline
    table_ref = app.resolve(pipeline, app.deployment.data.table.table_name)
    substitutions = {
        json.dumps({"Ref": "AWS::Partition"}): "aws",
        json.dumps(table_ref, sort_keys=True): table_name,
    }
    rendered: dict[str, Any] = json.loads(
        _render(_state_machine(app)["DefinitionString"], substitutions)
    )
    return rendered


# --- realistic Batch events (the `detail` is DescribeJobs' JobDetail) --------------------------


def attempt(
    *, status_reason: str, exit_code: int | None = None, reason: str | None = None
) -> dict[str, Any]:
    """One AttemptDetail of a Fargate job: what its container and task reported."""
    task_id = uuid.uuid4().hex
    container: dict[str, Any] = {
        "taskArn": f"arn:aws:ecs:us-east-1:123456789012:task/AWSBatch-Loader/{task_id}",
        "logStreamName": f"loader/default/{task_id}",
        "networkInterfaces": [
            {"attachmentId": str(uuid.uuid4()), "privateIpv4Address": "10.40.9.17"}
        ],
    }
    if exit_code is not None:
        container["exitCode"] = exit_code
    if reason is not None:
        container["reason"] = reason
    return {
        "container": container,
        "startedAt": 1715855000000,
        "stoppedAt": 1715855121148,
        "statusReason": status_reason,
        "taskProperties": [],
    }


def job_failed(
    key: str, *, attempts: list[dict[str, Any]], status_reason: str | None
) -> dict[str, Any]:
    """A "Batch Job State Change" event of a loader job that reached FAILED."""
    job_id = str(uuid.uuid4())
    detail: dict[str, Any] = {
        "jobArn": f"arn:aws:batch:us-east-1:123456789012:job/{job_id}",
        "jobName": "om-load-job",
        "jobId": job_id,
        "jobQueue": QUEUE_ARN,
        "status": "FAILED",
        "attempts": attempts,
        "createdAt": 1715854990000,
        "retryStrategy": {
            "attempts": 3,
            "evaluateOnExit": [
                {"onExitCode": "2", "action": "exit"},
                {"onExitCode": "1", "action": "retry"},
            ],
        },
        "startedAt": 1715855000000,
        "stoppedAt": 1715855121148,
        "dependsOn": [],
        "jobDefinition": "arn:aws:batch:us-east-1:123456789012:job-definition/LoaderJob98B46F6C:7",
        "parameters": {"bucket": BUCKET, "key": key},
        "container": {
            "image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/loader:0f3c1c1e",
            "command": ["--bucket", BUCKET, "--key", key],
            "jobRoleArn": "arn:aws:iam::123456789012:role/LoaderJobRole",
            "executionRoleArn": "arn:aws:iam::123456789012:role/LoaderExecutionRole",
            "readonlyRootFilesystem": True,
            "resourceRequirements": [
                {"value": "2", "type": "VCPU"},
                {"value": "4096", "type": "MEMORY"},
            ],
            "networkConfiguration": {"assignPublicIp": "DISABLED"},
            "ephemeralStorage": {"sizeInGiB": 50},
        },
        "timeout": {"attemptDurationSeconds": 21600},
        "tags": {"project": "order-management", "environment": "dev"},
        "propagateTags": True,
        "platformCapabilities": ["FARGATE"],
        "eksAttempts": [],
    }
    if status_reason is not None:
        detail["statusReason"] = status_reason
    if attempts:
        last = attempts[-1]["container"]
        detail["container"] |= {
            name: last[name] for name in ("exitCode", "reason", "logStreamName") if name in last
        }
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Batch Job State Change",
        "source": "aws.batch",
        "account": "123456789012",
        "time": EVENT_TIME,
        "region": REGION,
        "resources": [detail["jobArn"]],
        "detail": detail,
    }


def out_of_memory(key: str) -> dict[str, Any]:
    """Every attempt killed for memory; the job's own reason only says the container exited."""
    attempts = [
        attempt(status_reason=TASK_EXITED, exit_code=137, reason=OUT_OF_MEMORY) for _ in range(3)
    ]
    return job_failed(key, attempts=attempts, status_reason=TASK_EXITED)


# --- running the definition -------------------------------------------------------------------


@dataclass(frozen=True)
class Reconciler:
    """The synthesized state machine, created in moto's Step Functions, writing to one store."""

    client: Any
    arn: str

    def run(self, event: dict[str, Any]) -> dict[str, Any]:
        """Start an execution for `event` and wait for its end; the DescribeExecution answer."""
        execution = self.client.start_execution(
            stateMachineArn=self.arn, name=uuid.uuid4().hex, input=json.dumps(event)
        )["executionArn"]
        deadline = time.monotonic() + 30
        while (done := self.client.describe_execution(executionArn=execution))[
            "status"
        ] == "RUNNING":
            assert time.monotonic() < deadline, "the execution did not end"
            time.sleep(0.05)
        result: dict[str, Any] = done
        return result


@pytest.fixture
def reconciler(
    dev: Synthesized, store: Store, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Reconciler]:
    """The dev app's reconciler, its DynamoDB task pointed at the store's table and engine."""

    def store_client(*, service: str, region: str, state_credentials: Any) -> Any:
        assert service == "dynamodb", f"the reconciler must call DynamoDB only, not {service}"
        return store.clients.dynamodb

    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        monkeypatch.setattr(state_task_service_dynamodb, "boto_client_for", store_client)
        client = boto3.client("stepfunctions", region_name=REGION)
        arn = client.create_state_machine(
            name="load-reconciler",
            definition=json.dumps(definition(dev, store.settings.table_name)),
            roleArn="arn:aws:iam::123456789012:role/load-reconciler",
            type="EXPRESS",
        )["stateMachineArn"]
        yield Reconciler(client, arn)


@pytest.fixture
def loads(store: Store) -> LoadRepository:
    return LoadRepository(store.clients.dynamodb, store.settings.table_name)


def new_load(loads: LoadRepository, *, started: bool = True) -> BatchLoad:
    """A load as the API creates it (PENDING), and started by the loader (RUNNING) if asked."""
    now = datetime(2024, 5, 16, 10, 0, tzinfo=UTC)
    load_id = uuid.uuid4().hex
    load = loads.create(
        BatchLoad(
            id=load_id,
            status=LoadStatus.PENDING,
            bucket=BUCKET,
            object_key=f"uploads/{load_id}.csv",
            created_at=now,
            url_expires_at=now + timedelta(minutes=15),
            account="desk-7",
        )
    )
    if started:
        started_at = now + timedelta(minutes=1)
        loads.start(load.id, started_at, owner="run-1", lease_seconds=60)
        loads.renew(
            load.id,
            owner="run-1",
            at=started_at,
            lease_seconds=60,
            counts=LoadCounts(read=5000, loaded=4990, rejected=10),
        )
    return loads.get(load.id)


def stored_version(store: Store, load_id: str) -> int:
    item = store.clients.dynamodb.get_item(
        TableName=store.settings.table_name, Key=load_key(load_id), ConsistentRead=True
    )["Item"]
    return int(item["version"]["N"])


# --- behaviour --------------------------------------------------------------------------------

FAILURES: dict[str, tuple[Callable[[str], dict[str, Any]], str]] = {
    "out of memory": (
        out_of_memory,
        f"the load job failed: {TASK_EXITED} ({OUT_OF_MEMORY})",
    ),
    "timed out": (
        lambda key: job_failed(
            key, attempts=[attempt(status_reason=TIMED_OUT)], status_reason=TIMED_OUT
        ),
        f"the load job failed: {TIMED_OUT}",
    ),
    "retries exhausted": (
        lambda key: job_failed(
            key,
            attempts=[attempt(status_reason=TASK_EXITED, exit_code=1) for _ in range(3)],
            status_reason=TASK_EXITED,
        ),
        f"the load job failed: {TASK_EXITED} (exit code 1)",
    ),
    "image not pulled": (
        lambda key: job_failed(
            key,
            attempts=[
                attempt(
                    status_reason="CannotPullContainerError: pull access denied",
                    reason="CannotPullContainerError: pull access denied",
                )
            ],
            status_reason="CannotPullContainerError: pull access denied",
        ),
        "the load job failed: CannotPullContainerError: pull access denied",
    ),
    "no reason given": (
        lambda key: job_failed(key, attempts=[], status_reason=None),
        "the load job failed: no reason given",
    ),
}


@pytest.mark.parametrize("failure", FAILURES)
def test_a_failed_job_marks_its_running_load_failed_with_the_reason(
    reconciler: Reconciler, loads: LoadRepository, store: Store, failure: str
) -> None:
    make_event, reason = FAILURES[failure]
    load = new_load(loads)
    version = stored_version(store, load.id)
    execution = reconciler.run(make_event(load.object_key))
    assert execution["status"] == "SUCCEEDED", execution
    failed = loads.get(load.id)
    assert failed.status is LoadStatus.FAILED
    assert failed.reason == reason
    assert failed.finished_at == parse_timestamp("2024-05-16T10:45:21.000000Z")
    assert stored_version(store, load.id) == version + 1
    # Everything else the loader wrote stands: the counts so far, when it started.
    assert (failed.counts, failed.started_at) == (load.counts, load.started_at)


def test_a_job_cancelled_before_it_ran_fails_its_pending_load(
    reconciler: Reconciler, loads: LoadRepository
) -> None:
    load = new_load(loads, started=False)
    event = job_failed(load.object_key, attempts=[], status_reason="Cancelled by an operator")
    assert reconciler.run(event)["status"] == "SUCCEEDED"
    failed = loads.get(load.id)
    assert (failed.status, failed.reason) == (
        LoadStatus.FAILED,
        "the load job failed: Cancelled by an operator",
    )
    assert failed.started_at is None


def test_a_load_the_loader_finished_keeps_its_end_state(
    reconciler: Reconciler, loads: LoadRepository, store: Store
) -> None:
    succeeded, failed = new_load(loads), new_load(loads)
    finished_at = datetime(2024, 5, 16, 10, 30, tzinfo=UTC)
    counts = LoadCounts(read=10, loaded=10, rejected=0)
    for load in (succeeded, failed):
        loads.start(load.id, finished_at, owner="run-1", lease_seconds=60)
    loads.finish(
        succeeded.id, owner="run-1", status=LoadStatus.SUCCEEDED, at=finished_at, counts=counts
    )
    loads.finish(
        failed.id,
        owner="run-1",
        status=LoadStatus.FAILED,
        at=finished_at,
        counts=LoadCounts(),
        reason="the file has no header row",
    )
    assert {LoadStatus.SUCCEEDED, LoadStatus.FAILED} == set(END_STATES)
    for load_id in (succeeded.id, failed.id):
        before, version = loads.get(load_id), stored_version(store, load_id)
        execution = reconciler.run(out_of_memory(before.object_key))
        assert execution["status"] == "SUCCEEDED", execution
        assert loads.get(load_id) == before
        assert stored_version(store, load_id) == version


def test_a_load_that_does_not_exist_is_not_created(
    reconciler: Reconciler, loads: LoadRepository, store: Store
) -> None:
    load_id = uuid.uuid4().hex
    execution = reconciler.run(out_of_memory(f"uploads/{load_id}.csv"))
    assert execution["status"] == "SUCCEEDED", execution
    response = store.clients.dynamodb.get_item(
        TableName=store.settings.table_name, Key=load_key(load_id), ConsistentRead=True
    )
    assert "Item" not in response


def test_only_the_load_of_that_very_object_is_touched(
    reconciler: Reconciler, loads: LoadRepository
) -> None:
    # An object the service never issued, whose key splits to the id of a real load.
    load = new_load(loads)
    execution = reconciler.run(out_of_memory(f"{load.object_key}.part2.csv"))
    assert execution["status"] == "SUCCEEDED", execution
    assert loads.get(load.id) == load


# --- the rule, its target and the state machine as deployed --------------------------------------


def test_rule_matches_failed_jobs_of_this_deployments_queue(each: Synthesized) -> None:
    pipeline = each.deployment.pipeline
    queue_arn = each.resolve(pipeline, each.deployment.compute.loader.queue.job_queue_arn)
    assert _rule(each)["EventPattern"] == job_failed_pattern(queue_arn)
    assert _rule(each)["State"] == "ENABLED"


@pytest.mark.parametrize(
    ("change", "matches"),
    [
        ({}, True),
        ({"status": "SUCCEEDED"}, False),
        ({"status": "RUNNABLE"}, False),
        ({"jobQueue": QUEUE_ARN.replace("LoaderQueue", "OtherQueue")}, False),
    ],
)
def test_rule_pattern_against_batch_events(
    dev: Synthesized, change: dict[str, Any], matches: bool
) -> None:
    pattern = job_failed_pattern(QUEUE_ARN)
    pipeline = dev.deployment.pipeline
    queue_ref = dev.resolve(pipeline, dev.deployment.compute.loader.queue.job_queue_arn)
    deployed = copy.deepcopy(_rule(dev)["EventPattern"])
    assert deployed["detail"]["jobQueue"] == [queue_ref]
    deployed["detail"]["jobQueue"] = [QUEUE_ARN]
    assert deployed == pattern
    event = out_of_memory("uploads/0123456789abcdef0123456789abcdef.csv")
    event["detail"] |= change
    assert matched_by(deployed, event) is matches


def matched_by(pattern: dict[str, Any], event: dict[str, Any]) -> bool:
    """Whether EventBridge (moto's) delivers `event` to a rule with `pattern`."""
    with mock_aws():
        events = boto3.client("events", region_name=REGION)
        sqs = boto3.client("sqs", region_name=REGION)
        queue_url = sqs.create_queue(QueueName="matched")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        events.put_rule(Name="job-failed", EventPattern=json.dumps(pattern), State="ENABLED")
        events.put_targets(Rule="job-failed", Targets=[{"Id": "matched", "Arn": queue_arn}])
        entry = {
            "Source": event["source"],
            "DetailType": event["detail-type"],
            "Detail": json.dumps(event["detail"]),
            "Resources": event["resources"],
        }
        assert events.put_events(Entries=[entry])["FailedEntryCount"] == 0
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)
    return bool(messages.get("Messages"))


def test_rule_starts_the_state_machine_retrying_then_dead_lettering(each: Synthesized) -> None:
    pipeline = each.deployment.pipeline
    reconciler = pipeline.reconciler
    (target,) = _rule(each)["Targets"]
    assert target["Arn"] == each.resolve(pipeline, reconciler.state_machine.state_machine_arn)
    assert target["RetryPolicy"] == {
        "MaximumRetryAttempts": START_RETRY_ATTEMPTS,
        "MaximumEventAgeInSeconds": int(MAX_EVENT_AGE.to_seconds()),
    }
    assert target["DeadLetterConfig"] == {
        "Arn": each.resolve(pipeline, reconciler.dead_letters.queue_arn)
    }
    queue_id = each.resolve(pipeline, reconciler.dead_letters.queue_arn)["Fn::GetAtt"][0]
    queue = each.template_json(pipeline)["Resources"][queue_id]["Properties"]
    assert (queue["SqsManagedSseEnabled"], queue["MessageRetentionPeriod"]) == (True, 14 * 86400)
    assert "Input" not in target and "InputTransformer" not in target  # the whole event


def test_state_machine_is_express_and_logs_every_execution(each: Synthesized) -> None:
    pipeline = each.deployment.pipeline
    machine = _state_machine(each)
    assert machine["StateMachineType"] == "EXPRESS"
    assert machine["LoggingConfiguration"] == {
        "Destinations": [
            {
                "CloudWatchLogsLogGroup": {
                    "LogGroupArn": each.resolve(
                        pipeline, pipeline.reconciler.log_group.log_group_arn
                    )
                }
            }
        ],
        "IncludeExecutionData": True,
        "Level": "ALL",
    }
    logical_id = each.resolve(pipeline, pipeline.reconciler.log_group.log_group_name)["Ref"]
    group = each.template_json(pipeline)["Resources"][logical_id]["Properties"]
    assert group["RetentionInDays"] == each.config.log_retention_days
    assert group["LogGroupName"]["Fn::Join"][1][0].startswith("/aws/vendedlogs/states/")


def test_the_only_task_is_one_dynamodb_update_on_the_table(dev: Synthesized) -> None:
    states = definition(dev, "the-table")["States"]
    tasks = {name: state for name, state in states.items() if state["Type"] == "Task"}
    ((name, task),) = tasks.items()
    assert task["Resource"] == "arn:aws:states:::dynamodb:updateItem"
    assert task["Parameters"]["TableName"] == "the-table"
    assert {state["Type"] for state in states.values()} <= {"Choice", "Pass", "Task", "Succeed"}
    (catch,) = task["Catch"]
    assert catch["ErrorEquals"] == ["DynamoDB.ConditionalCheckFailedException"]
    assert states[catch["Next"]]["Type"] == "Succeed"
    assert name == "MarkLoadFailed"


def test_state_machine_role_may_only_update_items_of_the_table(each: Synthesized) -> None:
    pipeline = each.deployment.pipeline
    role = pipeline.reconciler.state_machine.role
    role_ref = each.resolve(pipeline, role.role_name)
    statements = [
        statement
        for policy in each.resources(pipeline, "AWS::IAM::Policy").values()
        if role_ref in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]
    actions = {
        action
        for statement in statements
        for action in (
            statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        )
    }
    assert {a for a in actions if not a.startswith("logs:")} == {"dynamodb:UpdateItem"}
    (update,) = [s for s in statements if s["Action"] == "dynamodb:UpdateItem"]
    table_name = each.resolve(pipeline, each.deployment.data.table.table_name)
    parts = update["Resource"]["Fn::Join"][1]
    assert parts[-2].endswith(":table/") and parts[-1] == table_name
    # Log delivery is the only grant on every resource: it has no resource-level permissions.
    wildcard = [s for s in statements if s["Resource"] == "*"]
    assert all(a.startswith("logs:") for s in wildcard for a in s["Action"])


def test_the_load_id_is_found_whatever_folders_the_prefix_has() -> None:
    assert load_id_position("uploads/") == 1
    assert load_id_position("tenant-a/uploads.v2/") == 3
    assert load_id_position("") == 0
