"""Pipeline: an upload lands in the bucket → EventBridge → one Batch job for that object; a job
that fails for good → its load marked FAILED.

The rule's pattern is `services.loader.events.upload_event_pattern` (the same one `om dev`
mirrors locally) and the target passes the object's bucket and key as the job's parameters.
EventBridge retries a SubmitJob that fails and, when it gives up, parks the event in a
dead-letter queue instead of losing the upload. The end of the pipeline is `infra.reconciler`:
no load stays RUNNING after Batch gave up on its job.
"""

from __future__ import annotations

from aws_cdk import Duration, Environment, RemovalPolicy, Stack
from aws_cdk import aws_batch as batch
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra.config import DeploymentConfig
from infra.container_env import UPLOAD_PREFIX
from infra.dead_letters import dead_letter_queue
from infra.load_jobs import BUCKET_PARAMETER, KEY_PARAMETER
from infra.reconciler import LoadReconciler
from services.loader.events import upload_event_pattern

DESCRIPTION = "order-management: S3 upload → EventBridge → AWS Batch load job"
SUBMIT_RETRY_ATTEMPTS = 8
MAX_EVENT_AGE = Duration.hours(6)


class PipelineStack(Stack):
    """The upload rule, its Batch target and dead-letter queue; the failed-job reconciler."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: DeploymentConfig,
        table: dynamodb.ITableV2,
        bucket: s3.IBucket,
        job_queue: batch.IJobQueue,
        job_definition: batch.IJobDefinition,
        env: Environment | None = None,
    ) -> None:
        super().__init__(scope, construct_id, env=env, description=DESCRIPTION)
        self.dead_letters = dead_letter_queue(
            self,
            "DeadLetters",
            parked="EventBridge parks uploads here when it cannot submit their load job.",
        )
        # Its alarm is the monitoring stack's (UndeliveredUploads), with every other alarm.

        pattern = upload_event_pattern(bucket.bucket_name, UPLOAD_PREFIX)
        self.rule = events.Rule(
            self,
            "UploadCreated",
            description="A CSV uploaded for a batch load starts its load job",
            event_pattern=events.EventPattern(
                source=pattern["source"],
                detail_type=pattern["detail-type"],
                detail=pattern["detail"],
            ),
        )
        self.rule.add_target(
            targets.BatchJob(
                job_queue.job_queue_arn,
                job_queue,
                job_definition.job_definition_arn,
                job_definition,
                job_name="om-load-job",
                event=events.RuleTargetInput.from_object(
                    {
                        "Parameters": {
                            BUCKET_PARAMETER: events.EventField.from_path("$.detail.bucket.name"),
                            KEY_PARAMETER: events.EventField.from_path("$.detail.object.key"),
                        }
                    }
                ),
                dead_letter_queue=self.dead_letters,
                retry_attempts=SUBMIT_RETRY_ATTEMPTS,
                max_event_age=MAX_EVENT_AGE,
            )
        )
        self.reconciler = LoadReconciler(
            self,
            "LoadReconciler",
            table=table,
            job_queue=job_queue,
            log_retention_days=config.log_retention_days,
            removal=RemovalPolicy.DESTROY if config.is_dev else RemovalPolicy.RETAIN,
        )
