"""Monitoring: the alarms an on-call engineer acts on, the one topic they go to, the dashboard.

Every alarm notifies one SNS topic (and again when it recovers); who is subscribed comes from
cdk.json (`alarms.subscriptions`). README "Operating it" says, per alarm, what it means and what
to do first.

Where each alarm's figure comes from, and why:

* API 5xx rate and p99 latency — the load balancer (`AWS/ApplicationELB`), not the app's EMF
  `Status5xx`/`Latency`: the balancer sees every request, including those the app never
  answered (a crashed or hung task, no healthy target: 502/503/504 made by the balancer itself),
  and its figures do not depend on the app's logs getting through. The rate is
  5xx (target + balancer) / (requests + balancer 5xx) — a request refused for want of a healthy
  target is not in `RequestCount` — and only counts once a minute has enough requests to mean
  something. The EMF figures are on the dashboard beside them.
* Unhealthy / no healthy targets — the target group's host counts (`/api/health/live` checks).
* DynamoDB throttling — `AWS/DynamoDB` read and write throttle events of the table and of every
  global secondary index (a throttled GSI write also throttles the table write): what DynamoDB
  itself refused, for the API and the loader alike. The services' EMF `StoreThrottles` and
  `StoreRetries` (what reached the app, per service) are on the dashboard.
* A load job failed for good — the reconciler's EventBridge rule fired (`AWS/Events`
  `TriggeredRules`): Batch gave up on a job (timeout, out of memory, retries exhausted).
* Loads failed — the loader's EMF `LoadsFailed`: loads it ended FAILED itself (mostly bad files).
* The reconciler failed — its state machine's failed or timed-out executions: a load may still
  be RUNNING.
* Undelivered events — the two dead-letter queues (uploads not submitted as jobs; job failures
  not handed to the reconciler).

This stack reads every other stack's resources through weak references (the producing stack's
outputs, not Exports), so a replaced load balancer, target group or queue never blocks its own
stack's update: monitoring simply follows on its next deployment.
"""

from __future__ import annotations

from aws_cdk import (
    Aws,
    CfnOutput,
    CrossStackReferences,
    Environment,
    ReferenceStrength,
    RemovalPolicy,
    Stack,
)
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_events as events
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra.alarms import AlarmTopic, OperationalAlarms, ServiceMetrics
from infra.config import DeploymentConfig
from infra.container_env import metrics_namespace
from infra.dashboard import OperationsDashboard

DESCRIPTION = "order-management: alarms, the alarm topic and the operations dashboard"


class MonitoringStack(Stack):
    """The alarm topic, every alarm, and the operations dashboard of one environment."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: DeploymentConfig,
        # Concrete types: the alarms need their full names, which the interfaces do not carry.
        load_balancer: elbv2.ApplicationLoadBalancer,
        target_group: elbv2.ApplicationTargetGroup,
        firewall_metric_name: str,
        table: dynamodb.ITableV2,
        upload_dead_letters: sqs.IQueue,
        job_failed_rule: events.IRule,
        reconciler: sfn.IStateMachine,
        reconciler_dead_letters: sqs.IQueue,
        env: Environment | None = None,
    ) -> None:
        super().__init__(scope, construct_id, env=env, description=DESCRIPTION)
        # Before any reference is made: everything this stack reads from others is read weakly.
        CrossStackReferences.of(self).consume(ReferenceStrength.WEAK)
        removal = RemovalPolicy.DESTROY if config.is_dev else RemovalPolicy.RETAIN
        self.topic = AlarmTopic(
            self, "AlarmTopic", subscribers=config.alarms.subscriptions, removal=removal
        ).topic
        service_metrics = ServiceMetrics(metrics_namespace(config))
        self.alarms = OperationalAlarms(
            self,
            "Alarms",
            topic=self.topic,
            thresholds=config.alarms,
            service_metrics=service_metrics,
            load_balancer=load_balancer,
            target_group=target_group,
            table=table,
            upload_dead_letters=upload_dead_letters,
            job_failed_rule=job_failed_rule,
            reconciler=reconciler,
            reconciler_dead_letters=reconciler_dead_letters,
        )
        self.dashboard = OperationsDashboard(
            self,
            "Operations",
            dashboard_name=config.stack_prefix,
            alarms=self.alarms,
            service_metrics=service_metrics,
            load_balancer=load_balancer,
            firewall_metric_name=firewall_metric_name,
        ).dashboard
        CfnOutput(
            self,
            "AlarmTopicArn",
            description="SNS topic every alarm notifies (subscribe more endpoints here)",
            value=self.topic.topic_arn,
        )
        CfnOutput(
            self,
            "DashboardUrl",
            description="The operations dashboard in the CloudWatch console",
            value=(
                f"https://{Aws.REGION}.console.aws.amazon.com/cloudwatch/home?region={Aws.REGION}"
                f"#dashboards/dashboard/{config.stack_prefix}"
            ),
        )
