"""Monitoring: every alarm goes to one encrypted topic, watches the right figure, and is explained
in the README; the dashboard shows every metric of the services' contract."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from infra.alarms import MIN_REQUESTS_FOR_ERROR_RATE, subscription_for
from infra.config import AlarmSubscription
from infra.container_env import metrics_namespace
from services import metrics as contract
from shared.schema import TABLE
from tests.infra.test_container_contract import api_environment, loader_environment

if TYPE_CHECKING:
    from tests.infra.conftest import Synthesized

ROOT = Path(__file__).resolve().parents[2]
ALARMS = {
    "ApiErrorRate",
    "ApiLatency",
    "ApiUnhealthyTargets",
    "ApiNoHealthyTargets",
    "StoreThrottling",
    "LoadJobFailed",
    "LoadsFailed",
    "LoadReconcilerFailed",
    "UndeliveredUploads",
    "UndeliveredJobFailures",
}


def _alarm(app: Synthesized, alarm_id: str) -> dict[str, Any]:
    monitoring = app.deployment.monitoring
    logical_id = app.resolve(monitoring, monitoring.alarms.alarms[alarm_id].alarm_name)["Ref"]
    properties: dict[str, Any] = app.template_json(monitoring)["Resources"][logical_id][
        "Properties"
    ]
    return properties


def _metric_stats(alarm: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The alarm's metric-math inputs by id: {"Namespace", "MetricName", "Dimensions", "Stat"}."""
    found = {}
    for query in alarm["Metrics"]:
        if "MetricStat" in query:
            stat = query["MetricStat"]
            found[query["Id"]] = stat["Metric"] | {"Stat": stat["Stat"], "Period": stat["Period"]}
    return found


def _only_metric(alarm: dict[str, Any]) -> dict[str, Any]:
    """The one metric an alarm watches, in either form CloudFormation takes it."""
    if "MetricName" in alarm:
        statistic = alarm.get("Statistic") or alarm["ExtendedStatistic"]
        fields = ("Namespace", "MetricName", "Dimensions", "Period")
        return {name: alarm[name] for name in fields if name in alarm} | {"Stat": statistic}
    ((_, metric),) = _metric_stats(alarm).items()
    return metric


def _dimensions(metric: dict[str, Any]) -> dict[str, Any]:
    return {item["Name"]: item["Value"] for item in metric.get("Dimensions", [])}


def _weak(app: Synthesized, token: str) -> Any:
    """How the monitoring stack sees another stack's value: that stack's output, read weakly."""
    return app.resolve(app.deployment.monitoring, token)


# --- the topic --------------------------------------------------------------------------------


def test_every_alarm_of_the_deployment_notifies_the_one_topic_on_alarm_and_recovery(
    each: Synthesized,
) -> None:
    monitoring = each.deployment.monitoring
    topic = each.resolve(monitoring, monitoring.topic.topic_arn)
    alarms = each.resources(monitoring, "AWS::CloudWatch::Alarm")
    assert len(alarms) == len(ALARMS) == len(monitoring.alarms.alarms)
    assert set(monitoring.alarms.alarms) == ALARMS
    for alarm in alarms.values():
        assert alarm["Properties"]["AlarmActions"] == [topic]
        assert alarm["Properties"]["OKActions"] == [topic]
    for stack in each.deployment.stacks:
        if stack is not monitoring:
            assert not each.resources(stack, "AWS::CloudWatch::Alarm"), stack.stack_name


def test_every_alarm_says_what_it_means_and_where_its_runbook_is(each: Synthesized) -> None:
    for alarm_id in ALARMS:
        description = _alarm(each, alarm_id)["AlarmDescription"]
        assert description.endswith(f"README, section 'Operating it', {alarm_id}.")
        assert len(description) > 80


def test_readme_operating_it_explains_every_alarm() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Operating it\n", 1)[1].split("\n## ", 1)[0]
    headings = set(re.findall(r"^#### `(\w+)`", section, flags=re.MULTILINE))
    assert headings == ALARMS


def test_topic_is_encrypted_with_a_rotating_key_cloudwatch_may_use(each: Synthesized) -> None:
    monitoring = each.deployment.monitoring
    template = each.template_json(monitoring)["Resources"]
    (key_id,) = each.resources(monitoring, "AWS::KMS::Key")
    key = template[key_id]["Properties"]
    assert key["EnableKeyRotation"] is True
    (grant,) = [
        s
        for s in key["KeyPolicy"]["Statement"]
        if s.get("Sid") == "CloudWatchAlarmsEncryptNotifications"
    ]
    assert grant["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert set(grant["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey*"}
    assert set(grant["Condition"]) == {"StringEquals", "ArnLike"}
    (topic,) = each.resources(monitoring, "AWS::SNS::Topic").values()
    assert topic["Properties"]["KmsMasterKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}


def test_topic_takes_tls_only_and_alarms_of_this_account_may_publish(each: Synthesized) -> None:
    (policy,) = each.resources(each.deployment.monitoring, "AWS::SNS::TopicPolicy").values()
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    (deny,) = [s for s in statements if s["Effect"] == "Deny"]
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    (publish,) = [s for s in statements if s.get("Sid") == "CloudWatchAlarmsPublish"]
    assert (publish["Effect"], publish["Action"]) == ("Allow", "sns:Publish")
    assert publish["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert publish["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}


def test_topic_subscriptions_are_the_environments_own(each: Synthesized) -> None:
    subscriptions = each.resources(each.deployment.monitoring, "AWS::SNS::Subscription")
    found = {
        (item["Properties"]["Protocol"], item["Properties"]["Endpoint"])
        for item in subscriptions.values()
    }
    assert found == {(s.protocol, s.endpoint) for s in each.config.alarms.subscriptions}


def test_prod_pages_someone_and_dev_may_page_nobody(dev: Synthesized, prod: Synthesized) -> None:
    assert prod.config.alarms.subscriptions
    assert dev.config.alarms.subscriptions == ()


@pytest.mark.parametrize(
    ("protocol", "endpoint"),
    [("email", "a@example.com"), ("https", "https://example.com/hook"), ("sms", "+15555550100")],
)
def test_each_configured_protocol_becomes_that_kind_of_subscription(
    protocol: str, endpoint: str
) -> None:
    subscription = subscription_for(AlarmSubscription(protocol=protocol, endpoint=endpoint))
    assert (
        type(subscription)
        .__name__.lower()
        .startswith({"email": "email", "https": "url", "sms": "sms"}[protocol])
    )


# --- what each alarm watches ------------------------------------------------------------------


def test_error_rate_counts_5xx_of_the_app_and_of_the_load_balancer(each: Synthesized) -> None:
    alarm = _alarm(each, "ApiErrorRate")
    (expression,) = [query for query in alarm["Metrics"] if "Expression" in query]
    assert expression["ReturnData"] is True
    text = expression["Expression"]
    assert f">= {MIN_REQUESTS_FOR_ERROR_RATE}" in text
    assert "100 * (FILL(target5xx, 0) + FILL(balancer5xx, 0))" in text
    inputs = _metric_stats(alarm)
    assert {name: metric["MetricName"] for name, metric in inputs.items()} == {
        "requests": "RequestCount",
        "target5xx": "HTTPCode_Target_5XX_Count",
        "balancer5xx": "HTTPCode_ELB_5XX_Count",
    }
    balancer = _weak(each, each.deployment.network.load_balancer.load_balancer_full_name)
    for metric in inputs.values():
        assert metric["Namespace"] == "AWS/ApplicationELB"
        assert _dimensions(metric) == {"LoadBalancer": balancer}
        assert (metric["Stat"], metric["Period"]) == ("Sum", 60)
    assert alarm["Threshold"] == each.config.alarms.api_5xx_percent
    assert (alarm["EvaluationPeriods"], alarm["DatapointsToAlarm"]) == (5, 3)


def test_latency_alarm_watches_the_load_balancers_p99_in_seconds(each: Synthesized) -> None:
    alarm = _alarm(each, "ApiLatency")
    metric = _only_metric(alarm)
    assert (metric["Namespace"], metric["MetricName"]) == (
        "AWS/ApplicationELB",
        "TargetResponseTime",
    )
    assert (metric["Stat"], metric["Period"]) == ("p99", 60)
    assert alarm["Threshold"] == each.config.alarms.api_p99_latency_ms / 1000


def test_target_alarms_watch_the_api_target_group_health(each: Synthesized) -> None:
    network, compute = each.deployment.network, each.deployment.compute
    dimensions = {
        "TargetGroup": _weak(each, compute.api.target_group.target_group_full_name),
        "LoadBalancer": _weak(each, network.load_balancer.load_balancer_full_name),
    }
    unhealthy = _alarm(each, "ApiUnhealthyTargets")
    metric = _only_metric(unhealthy)
    assert (metric["MetricName"], metric["Stat"]) == ("UnHealthyHostCount", "Maximum")
    assert _dimensions(metric) == dimensions
    assert (unhealthy["Threshold"], unhealthy["ComparisonOperator"]) == (
        1,
        "GreaterThanOrEqualToThreshold",
    )
    none_healthy = _alarm(each, "ApiNoHealthyTargets")
    metric = _only_metric(none_healthy)
    assert (metric["MetricName"], metric["Stat"]) == ("HealthyHostCount", "Minimum")
    assert _dimensions(metric) == dimensions
    assert (none_healthy["Threshold"], none_healthy["ComparisonOperator"]) == (
        1,
        "LessThanThreshold",
    )
    assert none_healthy["TreatMissingData"] == "breaching"


def test_throttling_alarm_adds_up_the_table_and_every_index(each: Synthesized) -> None:
    alarm = _alarm(each, "StoreThrottling")
    table = _weak(each, each.deployment.data.table.table_name)
    watched = {
        (metric["MetricName"], _dimensions(metric).get("GlobalSecondaryIndexName"))
        for metric in _metric_stats(alarm).values()
        if metric["Namespace"] == "AWS/DynamoDB" and _dimensions(metric)["TableName"] == table
    }
    indexes = [None, *(index.name for index in TABLE.global_indexes)]
    assert watched == {
        (kind, index) for kind in ("ReadThrottleEvents", "WriteThrottleEvents") for index in indexes
    }
    (expression,) = [query["Expression"] for query in alarm["Metrics"] if "Expression" in query]
    assert expression.count("FILL(") == len(watched)
    assert alarm["Threshold"] == each.config.alarms.store_throttle_events


def test_load_job_failed_alarm_fires_when_the_reconciler_rule_does(each: Synthesized) -> None:
    alarm = _alarm(each, "LoadJobFailed")
    metric = _only_metric(alarm)
    rule = each.deployment.pipeline.reconciler.rule
    assert (metric["Namespace"], metric["MetricName"]) == ("AWS/Events", "TriggeredRules")
    assert _dimensions(metric) == {"RuleName": _weak(each, rule.rule_name)}
    assert metric["Stat"] == "Sum"
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (
        1,
        "GreaterThanOrEqualToThreshold",
    )


def test_loads_failed_alarm_reads_the_loaders_own_metric(each: Synthesized) -> None:
    alarm = _alarm(each, "LoadsFailed")
    metric = _only_metric(alarm)
    namespace = metrics_namespace(each.config)
    assert metric["Namespace"] == namespace == f"OrderManagement/{each.config.name}"
    assert metric["MetricName"] == contract.LOADS_FAILED.name
    assert _dimensions(metric) == {contract.SERVICE_DIMENSION: contract.LOADER_SERVICE}
    assert metric["Stat"] == "Sum"
    assert alarm["Threshold"] == each.config.alarms.failed_loads


def test_reconciler_failures_are_an_alarm(each: Synthesized) -> None:
    alarm = _alarm(each, "LoadReconcilerFailed")
    machine = _weak(each, each.deployment.pipeline.reconciler.state_machine.state_machine_arn)
    inputs = _metric_stats(alarm)
    assert {metric["MetricName"] for metric in inputs.values()} == {
        "ExecutionsFailed",
        "ExecutionsTimedOut",
    }
    for metric in inputs.values():
        assert metric["Namespace"] == "AWS/States"
        assert _dimensions(metric) == {"StateMachineArn": machine}


@pytest.mark.parametrize(
    ("alarm_id", "queue"),
    [("UndeliveredUploads", "uploads"), ("UndeliveredJobFailures", "job failures")],
)
def test_each_dead_letter_queue_has_its_alarm(each: Synthesized, alarm_id: str, queue: str) -> None:
    pipeline = each.deployment.pipeline
    dead_letters = {
        "uploads": pipeline.dead_letters,
        "job failures": pipeline.reconciler.dead_letters,
    }[queue]
    alarm = _alarm(each, alarm_id)
    metric = _only_metric(alarm)
    assert (metric["Namespace"], metric["MetricName"]) == (
        "AWS/SQS",
        "ApproximateNumberOfMessagesVisible",
    )
    assert _dimensions(metric) == {"QueueName": _weak(each, dead_letters.queue_name)}
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (0, "GreaterThanThreshold")


def test_services_publish_where_the_alarms_look(each: Synthesized) -> None:
    namespace = metrics_namespace(each.config)
    assert api_environment(each)["OM_METRICS_NAMESPACE"] == namespace
    assert loader_environment(each)["OM_METRICS_NAMESPACE"] == namespace
    assert namespace.startswith(f"{contract.DEFAULT_NAMESPACE}/")


def test_monitoring_reads_other_stacks_weakly(each: Synthesized) -> None:
    # An Export would pin the load balancer, target group, queues and rule: none could be
    # replaced while this stack imports them.
    assert "Fn::ImportValue" not in json.dumps(each.template_json(each.deployment.monitoring))
    assert "Fn::GetStackOutput" in json.dumps(each.template_json(each.deployment.monitoring))


# --- the dashboard ----------------------------------------------------------------------------


def _dashboard(app: Synthesized) -> dict[str, Any]:
    (dashboard,) = app.resources(app.deployment.monitoring, "AWS::CloudWatch::Dashboard").values()
    body = dashboard["Properties"]["DashboardBody"]
    parts = body["Fn::Join"][1] if isinstance(body, dict) else [body]
    text = "".join(part if isinstance(part, str) else "<reference>" for part in parts)
    rendered: dict[str, Any] = json.loads(text)
    return rendered | {"name": dashboard["Properties"]["DashboardName"]}


def _dashboard_metrics(app: Synthesized) -> list[list[Any]]:
    return [
        metric
        for widget in _dashboard(app)["widgets"]
        for metric in widget["properties"].get("metrics", [])
    ]


def test_dashboard_is_named_after_the_environment(each: Synthesized) -> None:
    assert _dashboard(each)["name"] == f"OrderManagement-{each.config.name}"
    outputs = each.template_json(each.deployment.monitoring)["Outputs"]
    assert "#dashboards/dashboard/OrderManagement-" in json.dumps(outputs)


def test_dashboard_shows_every_metric_of_the_services_contract(each: Synthesized) -> None:
    namespace = metrics_namespace(each.config)
    shown = {
        (metric[1], metric[3])
        for metric in _dashboard_metrics(each)
        if metric[0] == namespace and metric[2] == contract.SERVICE_DIMENSION
    }
    expected = {(m.name, contract.API_SERVICE) for m in contract.API_METRICS} | {
        (m.name, contract.LOADER_SERVICE) for m in contract.LOADER_METRICS
    }
    assert shown == expected


def test_dashboard_shows_the_edge_the_store_and_the_queues(each: Synthesized) -> None:
    shown = {(metric[0], metric[1]) for metric in _dashboard_metrics(each)}
    assert {
        ("AWS/ApplicationELB", "RequestCount"),
        ("AWS/ApplicationELB", "HTTPCode_Target_4XX_Count"),
        ("AWS/ApplicationELB", "HTTPCode_Target_5XX_Count"),
        ("AWS/ApplicationELB", "HTTPCode_ELB_5XX_Count"),
        ("AWS/ApplicationELB", "TargetResponseTime"),
        ("AWS/ApplicationELB", "HealthyHostCount"),
        ("AWS/ApplicationELB", "UnHealthyHostCount"),
        ("AWS/DynamoDB", "ReadThrottleEvents"),
        ("AWS/DynamoDB", "WriteThrottleEvents"),
        ("AWS/Events", "TriggeredRules"),
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible"),
        ("AWS/WAFV2", "BlockedRequests"),
        ("AWS/WAFV2", "AllowedRequests"),
    } <= shown
    latency = [m for m in _dashboard_metrics(each) if m[1] == "TargetResponseTime"]
    assert {m[-1]["stat"] for m in latency} == {"p50", "p99"}
    firewall = [m for m in _dashboard_metrics(each) if m[0] == "AWS/WAFV2"]
    assert all(
        m[m.index("WebACL") + 1] == each.deployment.network.firewall.metric_name for m in firewall
    )


def test_dashboard_shows_every_alarm(each: Synthesized) -> None:
    (status,) = [w for w in _dashboard(each)["widgets"] if w["type"] == "alarm"]
    assert len(status["properties"]["alarms"]) == len(ALARMS)
