"""The pipeline: an upload under the prefix → EventBridge → SubmitJob(bucket, key), with a DLQ."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_cdk.assertions import Match

from infra.container_env import UPLOAD_PREFIX
from infra.pipeline import MAX_EVENT_AGE, SUBMIT_RETRY_ATTEMPTS
from services.loader.events import load_job_command, upload_event_pattern

if TYPE_CHECKING:
    from tests.infra.conftest import Synthesized


def _rule(app: Synthesized) -> dict[str, Any]:
    """The upload rule (the stack's other rule is the failed-job reconciler's)."""
    pipeline = app.deployment.pipeline
    rule_id = app.resolve(pipeline, pipeline.rule.rule_name)["Ref"]
    properties: dict[str, Any] = app.template_json(pipeline)["Resources"][rule_id]["Properties"]
    return properties


def test_rule_matches_object_created_under_the_upload_prefix_of_this_bucket(
    each: Synthesized,
) -> None:
    pipeline = each.deployment.pipeline
    bucket_name = each.resolve(pipeline, each.deployment.data.bucket.bucket_name)
    assert _rule(each)["EventPattern"] == upload_event_pattern(bucket_name, UPLOAD_PREFIX)
    assert _rule(each)["State"] == "ENABLED"


def test_target_submits_the_load_job_to_the_queue(each: Synthesized) -> None:
    pipeline = each.deployment.pipeline
    loader = each.deployment.compute.loader
    (target,) = _rule(each)["Targets"]
    assert target["Arn"] == each.resolve(pipeline, loader.queue.job_queue_arn)
    assert target["BatchParameters"]["JobDefinition"] == each.resolve(
        pipeline, loader.job_definition.job_definition_arn
    )


def test_target_passes_the_objects_bucket_and_key_as_the_jobs_parameters(
    each: Synthesized,
) -> None:
    (target,) = _rule(each)["Targets"]
    transformer = target["InputTransformer"]
    paths = transformer["InputPathsMap"]
    template = transformer["InputTemplate"]
    assert sorted(paths.values()) == ["$.detail.bucket.name", "$.detail.object.key"]
    bucket_var = next(name for name, path in paths.items() if path == "$.detail.bucket.name")
    key_var = next(name for name, path in paths.items() if path == "$.detail.object.key")
    assert template == f'{{"Parameters":{{"bucket":<{bucket_var}>,"key":<{key_var}>}}}}'


def test_parameters_fill_exactly_the_references_in_the_job_command(each: Synthesized) -> None:
    (job,) = each.resources(each.deployment.compute, "AWS::Batch::JobDefinition").values()
    command: list[str] = job["Properties"]["ContainerProperties"]["Command"]
    references = {part.removeprefix("Ref::") for part in command if part.startswith("Ref::")}
    assert references == {"bucket", "key"}
    # The image's entrypoint (`om load-job`) + this command is the loader's command line.
    assert ["om", "load-job", *command] == load_job_command("Ref::bucket", "Ref::key")


def test_submission_is_retried_then_dead_lettered(each: Synthesized) -> None:
    pipeline = each.deployment.pipeline
    (target,) = _rule(each)["Targets"]
    assert target["RetryPolicy"] == {
        "MaximumRetryAttempts": SUBMIT_RETRY_ATTEMPTS,
        "MaximumEventAgeInSeconds": int(MAX_EVENT_AGE.to_seconds()),
    }
    assert target["DeadLetterConfig"] == {
        "Arn": each.resolve(pipeline, pipeline.dead_letters.queue_arn)
    }


def test_only_this_rule_may_send_to_the_dead_letter_queue(each: Synthesized) -> None:
    pipeline = each.deployment.pipeline
    template = each.template(pipeline)
    template.has_resource_properties(
        "AWS::SQS::QueuePolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Effect": "Allow",
                                "Action": "sqs:SendMessage",
                                "Principal": {"Service": "events.amazonaws.com"},
                                "Condition": {
                                    "ArnEquals": {
                                        "aws:SourceArn": each.resolve(
                                            pipeline, pipeline.rule.rule_arn
                                        )
                                    }
                                },
                            }
                        )
                    ]
                )
            }
        },
    )
    template.has_resource_properties(
        "AWS::SQS::Queue", {"SqsManagedSseEnabled": True, "MessageRetentionPeriod": 14 * 86400}
    )


def test_eventbridge_may_submit_only_this_job_to_this_queue(each: Synthesized) -> None:
    compute = each.deployment.compute
    loader = compute.loader
    submitting = {
        policy["Properties"]["Roles"][0]["Ref"]: statement
        for policy in each.resources(compute, "AWS::IAM::Policy").values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if "batch:SubmitJob" in str(statement["Action"])
    }
    ((role_id, statement),) = submitting.items()
    assert statement == {
        "Action": "batch:SubmitJob",
        "Effect": "Allow",
        "Resource": [
            each.resolve(compute, loader.queue.job_queue_arn),
            each.resolve(compute, loader.job_definition.job_definition_arn),
        ],
    }
    role = each.resources(compute, "AWS::IAM::Role")[role_id]["Properties"]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "events.amazonaws.com"}


def test_a_new_job_definition_revision_does_not_block_the_compute_stack(
    each: Synthesized,
) -> None:
    # Each image change is a new revision (a new ARN); an Export of it could never change while
    # the rule imports it, so the rule reads the compute stack's output instead.
    (target,) = _rule(each)["Targets"]
    assert "Fn::GetStackOutput" in target["BatchParameters"]["JobDefinition"]
    outputs = each.template_json(each.deployment.compute).get("Outputs", {})
    job_ref = each.resolve(
        each.deployment.compute, each.deployment.compute.loader.job_definition.job_definition_arn
    )
    assert not [o for o in outputs.values() if o["Value"] == job_ref and "Export" in o]
