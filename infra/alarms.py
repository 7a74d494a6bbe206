"""The alarms: one KMS-encrypted topic they all notify, and each alarm with what it watches.

Where each figure comes from, and why, is in `infra.monitoring`'s docstring; what each alarm
means and what to do about it is in README "Operating it" (a test keeps the two lists equal).
"""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Aws, Duration, RemovalPolicy
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra.config import AlarmsConfig, AlarmSubscription
from services import metrics as contract
from shared.schema import TABLE

ONE_MINUTE = Duration.minutes(1)
FIVE_MINUTES = Duration.minutes(5)
FIFTEEN_MINUTES = Duration.minutes(15)
# Below this many requests in a minute an error rate is noise (one 503 of three requests).
MIN_REQUESTS_FOR_ERROR_RATE = 20
THROTTLE_METRICS = ("ReadThrottleEvents", "WriteThrottleEvents")
# Requests that reached a target plus those the balancer refused itself for want of one.
_ANSWERED = "FILL(requests, 0) + FILL(balancer5xx, 0)"
CLOUDWATCH = iam.ServicePrincipal("cloudwatch.amazonaws.com")

_STATISTIC_BY_UNIT: Mapping[str, str] = {
    "Count": cloudwatch.Stats.SUM,
    "Count/Second": cloudwatch.Stats.AVERAGE,
    "Milliseconds": cloudwatch.Stats.p(99),
}


class AlarmTopic(Construct):
    """The SNS topic every alarm notifies: KMS-encrypted, TLS-only, CloudWatch may publish."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        subscribers: tuple[AlarmSubscription, ...],
        removal: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        # Not the AWS-managed SNS key: its policy cannot let CloudWatch encrypt messages, and
        # alarms would silently fail to publish.
        self.key = kms.Key(
            self,
            "Key",
            description="Encrypts the order-management alarm topic",
            enable_key_rotation=True,
            removal_policy=removal,
            pending_window=Duration.days(7) if removal == RemovalPolicy.DESTROY else None,
        )
        alarms_of_this_account = {
            "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
            "ArnLike": {
                "aws:SourceArn": f"arn:{Aws.PARTITION}:cloudwatch:{Aws.REGION}:"
                f"{Aws.ACCOUNT_ID}:alarm:*"
            },
        }
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchAlarmsEncryptNotifications",
                principals=[CLOUDWATCH],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],  # in a key policy, "*" is this key
                conditions=alarms_of_this_account,
            )
        )
        self.topic = sns.Topic(
            self,
            "Topic",
            display_name="order-management alarms",
            master_key=self.key,
            enforce_ssl=True,
        )
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchAlarmsPublish",
                principals=[CLOUDWATCH],
                actions=["sns:Publish"],
                resources=[self.topic.topic_arn],
                conditions=alarms_of_this_account,
            )
        )
        for subscriber in subscribers:
            self.topic.add_subscription(subscription_for(subscriber))


def subscription_for(subscriber: AlarmSubscription) -> sns.ITopicSubscription:
    """The SNS subscription of one configured subscriber."""
    if subscriber.protocol == "email":
        return subscriptions.EmailSubscription(subscriber.endpoint)
    if subscriber.protocol == "https":
        return subscriptions.UrlSubscription(
            subscriber.endpoint, protocol=sns.SubscriptionProtocol.HTTPS
        )
    if subscriber.protocol == "sms":
        return subscriptions.SmsSubscription(subscriber.endpoint)
    raise ValueError(f"no subscription for protocol {subscriber.protocol!r}")


class ServiceMetrics:
    """The services' EMF metrics (names and units from `services.metrics`) in one namespace."""

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace

    def metric(
        self,
        metric: contract.Metric,
        service: str,
        *,
        statistic: str | None = None,
        period: Duration = ONE_MINUTE,
        label: str | None = None,
    ) -> cloudwatch.Metric:
        """One contract metric of `service`, with the statistic its unit calls for."""
        return cloudwatch.Metric(
            namespace=self.namespace,
            metric_name=metric.name,
            dimensions_map={contract.SERVICE_DIMENSION: service},
            statistic=statistic or _STATISTIC_BY_UNIT[metric.unit],
            period=period,
            label=label or f"{metric.name} ({service})",
        )


class OperationalAlarms(Construct):
    """Every alarm of the deployment, each notifying the topic when it fires and recovers."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        topic: sns.ITopic,
        thresholds: AlarmsConfig,
        service_metrics: ServiceMetrics,
        # Concrete types: the alarms need their full names, which the interfaces do not carry.
        load_balancer: elbv2.ApplicationLoadBalancer,
        target_group: elbv2.ApplicationTargetGroup,
        table: dynamodb.ITableV2,
        upload_dead_letters: sqs.IQueue,
        job_failed_rule: events.IRule,
        reconciler: sfn.IStateMachine,
        reconciler_dead_letters: sqs.IQueue,
    ) -> None:
        super().__init__(scope, construct_id)
        self._action = actions.SnsAction(topic)
        self.alarms: dict[str, cloudwatch.Alarm] = {}
        lb = load_balancer.metrics
        target_dimensions = {
            "TargetGroup": target_group.target_group_full_name,
            "LoadBalancer": load_balancer.load_balancer_full_name,
        }

        self.requests = lb.request_count(period=ONE_MINUTE)
        self.target_5xx = lb.http_code_target(
            elbv2.HttpCodeTarget.TARGET_5XX_COUNT, period=ONE_MINUTE
        )
        self.balancer_5xx = lb.http_code_elb(elbv2.HttpCodeElb.ELB_5XX_COUNT, period=ONE_MINUTE)
        self._add(
            "ApiErrorRate",
            description=(
                f"More than {thresholds.api_5xx_percent:g}% of API requests were answered with "
                "a 5xx (by the app or by the load balancer) in 3 of the last 5 minutes."
            ),
            metric=cloudwatch.MathExpression(
                expression=(
                    f"IF({_ANSWERED} >= {MIN_REQUESTS_FOR_ERROR_RATE}, "
                    f"100 * (FILL(target5xx, 0) + FILL(balancer5xx, 0)) / ({_ANSWERED}), 0)"
                ),
                using_metrics={
                    "requests": self.requests,
                    "target5xx": self.target_5xx,
                    "balancer5xx": self.balancer_5xx,
                },
                label="5xx % of requests",
                period=ONE_MINUTE,
            ),
            threshold=thresholds.api_5xx_percent,
            evaluation_periods=5,
            datapoints_to_alarm=3,
        )
        self.latency_p99 = lb.target_response_time(
            statistic=cloudwatch.Stats.p(99), period=ONE_MINUTE, label="p99 (load balancer)"
        )
        self._add(
            "ApiLatency",
            description=(
                f"The API's p99 response time at the load balancer was above "
                f"{thresholds.api_p99_latency_ms} ms in 3 of the last 5 minutes."
            ),
            metric=self.latency_p99,
            threshold=thresholds.api_p99_latency_ms / 1000,  # the metric is in seconds
            evaluation_periods=5,
            datapoints_to_alarm=3,
        )
        self.unhealthy_hosts = _target_group_metric(
            "UnHealthyHostCount", target_dimensions, cloudwatch.Stats.MAXIMUM
        )
        self._add(
            "ApiUnhealthyTargets",
            description=(
                "At least one API task has failed the load balancer's liveness check "
                "(/api/health/live) for 5 minutes in a row."
            ),
            metric=self.unhealthy_hosts,
            threshold=1,
            comparison=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            evaluation_periods=5,
        )
        self.healthy_hosts = _target_group_metric(
            "HealthyHostCount", target_dimensions, cloudwatch.Stats.MINIMUM
        )
        self._add(
            "ApiNoHealthyTargets",
            description=(
                "The load balancer has had no healthy API task for 2 minutes: every request "
                "is answered 503 by the load balancer."
            ),
            metric=self.healthy_hosts,
            threshold=1,
            comparison=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
            evaluation_periods=2,
            # The balancer reports host counts every minute; silence means nothing is there.
            missing=cloudwatch.TreatMissingData.BREACHING,
        )

        self.throttle_events = {
            f"{kind} {index or 'table'}": _table_metric(table, kind, index)
            for index in (None, *(i.name for i in TABLE.global_indexes))
            for kind in THROTTLE_METRICS
        }
        names = {
            f"t{number}": metric for number, metric in enumerate(self.throttle_events.values())
        }
        self._add(
            "StoreThrottling",
            description=(
                f"DynamoDB refused at least {thresholds.store_throttle_events} reads or writes "
                "(table and indexes, API and loader together) as throttled in 5 minutes."
            ),
            metric=cloudwatch.MathExpression(
                expression=" + ".join(f"FILL({name}, 0)" for name in names),
                using_metrics=names,
                label="throttle events",
                period=FIVE_MINUTES,
            ),
            threshold=thresholds.store_throttle_events,
            comparison=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            evaluation_periods=1,
        )

        self.jobs_failed = cloudwatch.Metric(
            namespace="AWS/Events",
            metric_name="TriggeredRules",
            dimensions_map={"RuleName": job_failed_rule.rule_name},
            statistic=cloudwatch.Stats.SUM,
            period=FIVE_MINUTES,
            label="load jobs failed (Batch gave up)",
        )
        self._add(
            "LoadJobFailed",
            description=(
                "AWS Batch gave up on a load job (attempt timeout, out of memory, or every "
                "retry failed); the reconciler marks its load FAILED with Batch's reason."
            ),
            metric=self.jobs_failed,
            threshold=1,
            comparison=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            evaluation_periods=1,
        )
        self.loads_failed = service_metrics.metric(
            contract.LOADS_FAILED, contract.LOADER_SERVICE, period=FIFTEEN_MINUTES
        )
        self._add(
            "LoadsFailed",
            description=(
                f"The loader ended at least {thresholds.failed_loads} batch load(s) FAILED in "
                "15 minutes (a bad file, a missing upload, too many rejected rows)."
            ),
            metric=self.loads_failed,
            threshold=thresholds.failed_loads,
            comparison=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            evaluation_periods=1,
        )
        self._add(
            "LoadReconcilerFailed",
            description=(
                "The state machine that marks the loads of failed jobs FAILED could not do so; "
                "such a load may still read RUNNING."
            ),
            metric=cloudwatch.MathExpression(
                expression="FILL(failed, 0) + FILL(timedOut, 0)",
                using_metrics={
                    "failed": reconciler.metric_failed(period=FIVE_MINUTES),
                    "timedOut": reconciler.metric_timed_out(period=FIVE_MINUTES),
                },
                label="reconciler executions failed",
                period=FIVE_MINUTES,
            ),
            threshold=1,
            comparison=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            evaluation_periods=1,
        )

        self.dead_letters = {
            label: queue.metric_approximate_number_of_messages_visible(
                period=FIVE_MINUTES, statistic=cloudwatch.Stats.MAXIMUM, label=label
            )
            for label, queue in (
                ("uploads not submitted", upload_dead_letters),
                ("job failures not reconciled", reconciler_dead_letters),
            )
        }
        self._add(
            "UndeliveredUploads",
            description=(
                "An upload's load job could not be submitted to AWS Batch; the S3 event is "
                "parked in the pipeline's dead-letter queue and its load is still PENDING."
            ),
            metric=self.dead_letters["uploads not submitted"],
            threshold=0,
            evaluation_periods=1,
        )
        self._add(
            "UndeliveredJobFailures",
            description=(
                "A failed load job's event could not be handed to the reconciler; it is parked "
                "in the reconciler's dead-letter queue and its load may still read RUNNING."
            ),
            metric=self.dead_letters["job failures not reconciled"],
            threshold=0,
            evaluation_periods=1,
        )

    def _add(
        self,
        alarm_id: str,
        *,
        description: str,
        metric: cloudwatch.IMetric,
        threshold: float,
        evaluation_periods: int,
        datapoints_to_alarm: int | None = None,
        comparison: cloudwatch.ComparisonOperator = (
            cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD
        ),
        missing: cloudwatch.TreatMissingData = cloudwatch.TreatMissingData.NOT_BREACHING,
    ) -> None:
        alarm = cloudwatch.Alarm(
            self,
            alarm_id,
            alarm_description=(
                f"{description} What to do: README, section 'Operating it', {alarm_id}."
            ),
            metric=metric,
            threshold=threshold,
            comparison_operator=comparison,
            evaluation_periods=evaluation_periods,
            datapoints_to_alarm=datapoints_to_alarm,
            treat_missing_data=missing,
        )
        alarm.add_alarm_action(self._action)
        alarm.add_ok_action(self._action)
        self.alarms[alarm_id] = alarm


def _target_group_metric(
    name: str, dimensions: Mapping[str, str], statistic: str
) -> cloudwatch.Metric:
    return cloudwatch.Metric(
        namespace="AWS/ApplicationELB",
        metric_name=name,
        dimensions_map=dict(dimensions),
        statistic=statistic,
        period=ONE_MINUTE,
    )


def _table_metric(table: dynamodb.ITableV2, name: str, index: str | None) -> cloudwatch.Metric:
    dimensions = {"TableName": table.table_name}
    if index is not None:
        dimensions["GlobalSecondaryIndexName"] = index
    return cloudwatch.Metric(
        namespace="AWS/DynamoDB",
        metric_name=name,
        dimensions_map=dimensions,
        statistic=cloudwatch.Stats.SUM,
        period=FIVE_MINUTES,
        label=f"{name} ({index or 'table'})",
    )
