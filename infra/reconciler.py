"""Stuck loads: a load job that fails for good marks its load FAILED, with the reason.

The loader moves its own load record to SUCCEEDED or FAILED, but a job that Batch itself ends —
the attempt timed out, the container ran out of memory, every retry exited 1, the image could not
be pulled, an operator cancelled it — never gets that far, and its load would stay RUNNING (or
PENDING) forever. Batch publishes a "Batch Job State Change" event when a job reaches FAILED,
which happens only once its retries are exhausted; a rule on this deployment's job queue sends
that event to a small state machine that marks the load FAILED.

Why an EXPRESS Step Functions state machine with the direct DynamoDB `UpdateItem` integration,
and not a Lambda function:

* There is no code to package, patch or run: the states below are the whole program. A Lambda
  that reused `shared/` would need pydantic bundled for its runtime, which needs Docker at synth
  time; one that did not would be a second, hand-written copy of the load record's writes.
* Synth stays free of Docker, network and credentials, and the role can do exactly one thing:
  `dynamodb:UpdateItem` on the table (plus delivering its own logs).
* Express executions are cheap and short (one conditional write), and their history goes to a
  log group at level ALL, which is where an operator reads what was done and why.

The program: the load id is the `<id>` of the job's `key` parameter (`uploads/<id>.csv`), taken
with `States.StringSplit`/`States.ArrayGetItem`. The reason is "the load job failed: " + the job's
`statusReason`, followed by what the last attempt's container reported — its `reason` (an
out-of-memory kill says so there) or else its exit code. `finishedAt` is the event's `time` (when
the job failed) in the table's timestamp format. The write is conditional: the load must exist and
be the load of that very object (`objectKey`), and must not already be SUCCEEDED or FAILED — a
load the loader finished keeps its own end state, and nothing is ever created. A failed condition
is the normal outcome for such loads and ends the execution successfully.

EventBridge retries a StartExecution that fails and then parks the event in a dead-letter queue.
An execution that starts and then fails (DynamoDB unavailable after the retries below) shows in
the state machine's `ExecutionsFailed` metric, which the monitoring stack alarms on.
"""

from __future__ import annotations

import re
from typing import Any

from aws_cdk import Aws, Duration, Fn, RemovalPolicy, Stack, Token
from aws_cdk import aws_batch as batch
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from infra import nag
from infra.container_env import UPLOAD_PREFIX
from infra.dead_letters import dead_letter_queue
from infra.load_jobs import KEY_PARAMETER
from infra.log_retention import retention
from shared import keys
from shared.codecs import FINISHED_AT, OBJECT_KEY, REASON, STATUS, VERSION
from shared.models import LoadStatus
from shared.schema import TABLE

# A load that reached one of these stays there.
END_STATES = (LoadStatus.SUCCEEDED, LoadStatus.FAILED)
_END_STATE_VALUES = {f":{state.value.lower()}": state for state in END_STATES}
REASON_PREFIX = "the load job failed: "
NO_REASON = "no reason given"
# The characters `States.StringSplit` cuts the upload key at: `uploads/<id>.csv` → ["uploads",
# "<id>", "csv"]. The id (32 hex digits) contains neither.
KEY_DELIMITERS = "/."
# The event's `time` is `2024-05-16T10:45:21Z`; the table's timestamps carry microseconds.
TIME_DELIMITERS = ".Z"
TIMESTAMP_TEMPLATE = "{}.000000Z"

BATCH_EVENT_SOURCE = "aws.batch"
JOB_STATE_CHANGE = "Batch Job State Change"
START_RETRY_ATTEMPTS = 8
MAX_EVENT_AGE = Duration.hours(24)
# DynamoDB errors worth retrying (throttling, a service-side fault), as Step Functions names them.
RETRIED_ERRORS = (
    "DynamoDB.ProvisionedThroughputExceededException",
    "DynamoDB.ThrottlingException",
    "DynamoDB.RequestLimitExceeded",
    "DynamoDB.InternalServerErrorException",
    "DynamoDB.AmazonDynamoDBException",
)
CONDITION_FAILED = "DynamoDB.ConditionalCheckFailedException"


def load_id_position(upload_prefix: str) -> int:
    """Where the load id sits in the upload key split at `KEY_DELIMITERS` (empty parts dropped)."""
    return len([part for part in re.split(f"[{re.escape(KEY_DELIMITERS)}]", upload_prefix) if part])


def job_failed_pattern(job_queue_arn: str) -> dict[str, Any]:
    """EventBridge pattern: a job of this queue reached FAILED (its retries are exhausted)."""
    return {
        "source": [BATCH_EVENT_SOURCE],
        "detail-type": [JOB_STATE_CHANGE],
        "detail": {"status": ["FAILED"], "jobQueue": [job_queue_arn]},
    }


def _explain_failure(scope: Construct, then: sfn.IChainable) -> sfn.IChainable:
    """States that leave the failure's explanation in `$.failure.text`, then go to `then`."""
    attempts = sfn.JsonPath.list_at("$.detail.attempts")
    container = "$.lastAttempt.attempt.container"
    with_container_reason = sfn.Pass(
        scope,
        "AddContainerReason",
        parameters={
            "text": sfn.JsonPath.format(
                "{} ({})",
                sfn.JsonPath.string_at("$.failure.text"),
                sfn.JsonPath.string_at(f"{container}.reason"),
            )
        },
        result_path="$.failure",
    ).next(then)
    with_exit_code = sfn.Pass(
        scope,
        "AddExitCode",
        parameters={
            "text": sfn.JsonPath.format(
                "{} (exit code {})",
                sfn.JsonPath.string_at("$.failure.text"),
                sfn.JsonPath.string_at(f"{container}.exitCode"),
            )
        },
        result_path="$.failure",
    ).next(then)
    # CannotPullContainerError and the like repeat the job's reason word for word.
    reason_is_new = (
        sfn.Choice(scope, "ContainerReasonIsNew")
        .when(
            sfn.Condition.string_equals_json_path(f"{container}.reason", "$.failure.text"),
            then,
        )
        .otherwise(with_container_reason)
    )
    what_the_container_said = (
        sfn.Choice(scope, "WhatTheContainerSaid")
        .when(sfn.Condition.is_present(f"{container}.reason"), reason_is_new)
        .when(sfn.Condition.is_present(f"{container}.exitCode"), with_exit_code)
        .otherwise(then)
    )
    last_attempt = sfn.Pass(
        scope,
        "ReadLastAttempt",
        parameters={
            # The intrinsics return string tokens; jsii wants numbers where they nest.
            "attempt": sfn.JsonPath.array_get_item(
                attempts,
                Token.as_number(
                    sfn.JsonPath.math_add(Token.as_number(sfn.JsonPath.array_length(attempts)), -1)
                ),
            )
        },
        result_path="$.lastAttempt",
    ).next(what_the_container_said)
    # A job cancelled before it ever ran has no attempts.
    any_attempt = (
        sfn.Choice(scope, "AnyAttempt")
        .when(sfn.Condition.is_present("$.detail.attempts[0]"), last_attempt)
        .otherwise(then)
    )
    return (
        sfn.Choice(scope, "StatusReasonGiven")
        .when(
            sfn.Condition.is_present("$.detail.statusReason"),
            sfn.Pass(
                scope,
                "TakeStatusReason",
                parameters={"text": sfn.JsonPath.string_at("$.detail.statusReason")},
                result_path="$.failure",
            ).next(any_attempt),
        )
        .otherwise(
            sfn.Pass(
                scope,
                "NoStatusReason",
                result=sfn.Result.from_object({"text": NO_REASON}),
                result_path="$.failure",
            ).next(any_attempt)
        )
    )


def _mark_load_failed(scope: Construct, table: dynamodb.ITableV2) -> tasks.DynamoUpdateItem:
    """The one write: the load of this object, unless it already ended, becomes FAILED."""
    upload_key = sfn.JsonPath.string_at(f"$.detail.parameters.{KEY_PARAMETER}")
    load_id = sfn.JsonPath.array_get_item(
        sfn.JsonPath.string_split(upload_key, KEY_DELIMITERS), load_id_position(UPLOAD_PREFIX)
    )
    failed_at = sfn.JsonPath.array_get_item(
        sfn.JsonPath.string_split(sfn.JsonPath.string_at("$.time"), TIME_DELIMITERS), 0
    )
    value = tasks.DynamoAttributeValue
    task = tasks.DynamoUpdateItem(
        scope,
        "MarkLoadFailed",
        table=table,
        key={
            # `load_pk("{}")` is `LOAD#{}`: the key template of shared/keys.py as a format string.
            TABLE.partition_key.name: value.from_string(
                sfn.JsonPath.format(keys.load_pk("{}"), load_id)
            ),
            TABLE.sort_key.name: value.from_string(keys.LOAD_ENTITY),
        },
        update_expression=(
            "SET #status = :failed, #reason = :reason, #finishedAt = :finishedAt ADD #version :one"
        ),
        # `#objectKey = :key` also means the item exists: a missing load is never created.
        condition_expression=(
            f"#objectKey = :key AND NOT (#status IN ({', '.join(_END_STATE_VALUES)}))"
        ),
        expression_attribute_names={
            "#status": STATUS,
            "#reason": REASON,
            "#finishedAt": FINISHED_AT,
            "#version": VERSION,
            "#objectKey": OBJECT_KEY,
        },
        expression_attribute_values={
            **{
                placeholder: value.from_string(state.value)
                for placeholder, state in _END_STATE_VALUES.items()
            },
            ":key": value.from_string(upload_key),
            ":reason": value.from_string(
                sfn.JsonPath.format(REASON_PREFIX + "{}", sfn.JsonPath.string_at("$.failure.text"))
            ),
            ":finishedAt": value.from_string(sfn.JsonPath.format(TIMESTAMP_TEMPLATE, failed_at)),
            ":one": value.number_from_string("1"),
        },
        return_values=tasks.DynamoReturnValues.NONE,
        result_path=sfn.JsonPath.DISCARD,
    )
    task.add_retry(
        errors=list(RETRIED_ERRORS),
        interval=Duration.seconds(1),
        backoff_rate=2,
        max_attempts=6,
        jitter_strategy=sfn.JitterType.FULL,
    )
    task.add_catch(
        sfn.Succeed(
            scope,
            "LoadAlreadySettled",
            comment="The load ended by itself, or it is not a load of this object: left alone.",
        ),
        errors=[CONDITION_FAILED],
        result_path=sfn.JsonPath.DISCARD,
    )
    return task


class LoadReconciler(Construct):
    """Batch "job FAILED" events of the load queue → an express state machine → load FAILED."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        table: dynamodb.ITableV2,
        job_queue: batch.IJobQueue,
        log_retention_days: int,
        removal: RemovalPolicy,
    ) -> None:
        """`removal` applies to the execution logs; the state machine itself holds no data."""
        super().__init__(scope, construct_id)
        self.dead_letters = dead_letter_queue(
            self,
            "DeadLetters",
            parked="EventBridge parks job-failure events here when it cannot start the "
            "reconciling state machine.",
        )
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            # Step Functions delivers through CloudWatch Logs' vended-logs path; names under
            # this prefix need no resource policy of their own. The stack id's UUID keeps a
            # retained group from blocking a redeployed stack.
            log_group_name=Fn.join(
                "",
                [
                    "/aws/vendedlogs/states/",
                    Stack.of(self).stack_name,
                    "-LoadReconciler-",
                    Fn.select(2, Fn.split("/", Aws.STACK_ID)),
                ],
            ),
            retention=retention(log_retention_days),
            removal_policy=removal,
        )
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            comment="Marks the load of a failed Batch load job FAILED, unless it already ended",
            state_machine_type=sfn.StateMachineType.EXPRESS,
            definition_body=sfn.DefinitionBody.from_chainable(
                _explain_failure(self, _mark_load_failed(self, table))
            ),
            timeout=Duration.minutes(5),
            logs=sfn.LogOptions(
                destination=self.log_group, level=sfn.LogLevel.ALL, include_execution_data=True
            ),
            tracing_enabled=False,
        )
        self.rule = events.Rule(
            self,
            "JobFailed",
            description="A load job failed for good (timeout, out of memory, retries exhausted)",
            event_pattern=events.EventPattern(
                **_pattern_props(job_failed_pattern(job_queue.job_queue_arn))
            ),
        )
        self.rule.add_target(
            targets.SfnStateMachine(
                self.state_machine,
                dead_letter_queue=self.dead_letters,
                retry_attempts=START_RETRY_ATTEMPTS,
                max_event_age=MAX_EVENT_AGE,
            )
        )
        nag.acknowledge(
            self.state_machine,
            "SF2",
            "One conditional DynamoDB write per failed job: the execution log at level ALL, "
            "with inputs and outputs, already shows the call and its result.",
        )
        nag.acknowledge(
            self.state_machine,
            "IAM5[Resource::*]",
            "Step Functions log delivery (logs:CreateLogDelivery, PutResourcePolicy and the "
            "like) has no resource-level permissions; the DynamoDB write is on the table only.",
        )


def _pattern_props(pattern: dict[str, Any]) -> dict[str, Any]:
    return {
        "source": pattern["source"],
        "detail_type": pattern["detail-type"],
        "detail": pattern["detail"],
    }
