"""The operations dashboard: alarm states, then the edge, the API, the store, the loads."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Aws, Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from constructs import Construct

from infra.alarms import FIFTEEN_MINUTES, ONE_MINUTE, OperationalAlarms, ServiceMetrics
from infra.firewall import MANAGED_RULE_GROUPS, RATE_RULE
from services import metrics as contract


def _graph(title: str, metrics: list[cloudwatch.IMetric]) -> cloudwatch.GraphWidget:
    """A third of the dashboard's width: three graphs to a row."""
    return cloudwatch.GraphWidget(title=title, left=metrics, width=8, height=6)


class OperationsDashboard(Construct):
    """One CloudWatch dashboard: alarm states, then the edge, the API, the store, the loads."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        dashboard_name: str,
        alarms: OperationalAlarms,
        service_metrics: ServiceMetrics,
        load_balancer: elbv2.IApplicationLoadBalancer,
        firewall_metric_name: str,
    ) -> None:
        super().__init__(scope, construct_id)
        lb = load_balancer.metrics
        emf = service_metrics.metric
        api, loader = contract.API_SERVICE, contract.LOADER_SERVICE
        firewall = {"WebACL": firewall_metric_name, "Region": Aws.REGION}
        self.dashboard = cloudwatch.Dashboard(
            self,
            "Dashboard",
            dashboard_name=dashboard_name,
            default_interval=Duration.hours(3),
            widgets=[
                [
                    cloudwatch.AlarmStatusWidget(
                        title="Alarms", alarms=list(alarms.alarms.values()), width=24, height=4
                    )
                ],
                [
                    _graph("Requests (load balancer)", [alarms.requests]),
                    _graph(
                        "4xx / 5xx responses (load balancer)",
                        [
                            lb.http_code_target(
                                elbv2.HttpCodeTarget.TARGET_4XX_COUNT, period=ONE_MINUTE
                            ),
                            alarms.target_5xx,
                            lb.http_code_elb(elbv2.HttpCodeElb.ELB_4XX_COUNT, period=ONE_MINUTE),
                            alarms.balancer_5xx,
                        ],
                    ),
                    _graph(
                        "Latency p50 / p99 (load balancer, seconds)",
                        [
                            lb.target_response_time(
                                statistic=cloudwatch.Stats.p(50),
                                period=ONE_MINUTE,
                                label="p50 (load balancer)",
                            ),
                            alarms.latency_p99,
                        ],
                    ),
                ],
                [
                    _graph(
                        "API targets healthy / unhealthy",
                        [alarms.healthy_hosts, alarms.unhealthy_hosts],
                    ),
                    _graph(
                        "Requests and 4xx / 5xx (app)",
                        [
                            emf(contract.REQUESTS, api),
                            emf(contract.STATUS_4XX, api),
                            emf(contract.STATUS_5XX, api),
                        ],
                    ),
                    _graph(
                        "Latency p50 / p99 (app, ms)",
                        [
                            emf(
                                contract.LATENCY,
                                api,
                                statistic=cloudwatch.Stats.p(50),
                                label="p50 (app)",
                            ),
                            emf(
                                contract.LATENCY,
                                api,
                                statistic=cloudwatch.Stats.p(99),
                                label="p99 (app)",
                            ),
                        ],
                    ),
                ],
                [
                    _graph(
                        "Trades: outcomes and retries",
                        [
                            emf(contract.TRADES_EXECUTED, api),
                            emf(contract.TRADES_UNFILLED, api),
                            emf(contract.TRADES_SHED, api),
                            emf(contract.TRADE_RETRIES, api),
                        ],
                    ),
                    _graph(
                        "Store throttles / retries (app)",
                        [
                            emf(metric, service)
                            for service in (api, loader)
                            for metric in (contract.STORE_THROTTLES, contract.STORE_RETRIES)
                        ],
                    ),
                    _graph(
                        "DynamoDB throttle events (table, indexes)",
                        list(alarms.throttle_events.values()),
                    ),
                ],
                [
                    _graph(
                        "Loader rows per second",
                        [
                            emf(contract.ROWS_PER_SECOND, loader, label="rows/s (mean of runs)"),
                            emf(
                                contract.ROWS_PER_SECOND,
                                loader,
                                statistic=cloudwatch.Stats.MINIMUM,
                                label="rows/s (slowest run)",
                            ),
                        ],
                    ),
                    _graph(
                        "Loader rows read / loaded / rejected",
                        [
                            emf(contract.ROWS_READ, loader),
                            emf(contract.ROWS_LOADED, loader),
                            emf(contract.ROWS_REJECTED, loader),
                        ],
                    ),
                    _graph(
                        "Loads succeeded / failed",
                        [
                            emf(contract.LOADS_SUCCEEDED, loader, period=FIFTEEN_MINUTES),
                            alarms.loads_failed,
                            alarms.jobs_failed,
                        ],
                    ),
                ],
                [
                    _graph("Dead-letter queues (messages)", list(alarms.dead_letters.values())),
                    _graph(
                        "Firewall: allowed / blocked requests",
                        [
                            _firewall_metric("AllowedRequests", firewall, "ALL"),
                            _firewall_metric("BlockedRequests", firewall, "ALL"),
                        ],
                    ),
                    _graph(
                        "Firewall: blocked by rule",
                        [
                            _firewall_metric("BlockedRequests", firewall, rule)
                            for rule in (RATE_RULE, *MANAGED_RULE_GROUPS)
                        ],
                    ),
                ],
            ],
        )


def _firewall_metric(name: str, dimensions: Mapping[str, str], rule: str) -> cloudwatch.Metric:
    return cloudwatch.Metric(
        namespace="AWS/WAFV2",
        metric_name=name,
        dimensions_map={**dimensions, "Rule": rule},
        statistic=cloudwatch.Stats.SUM,
        period=ONE_MINUTE,
        label=f"{name} ({rule})",
    )
