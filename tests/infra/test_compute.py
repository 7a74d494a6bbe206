"""The compute stack: the API's Fargate service and the loader's Batch jobs, as the issue asks."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_cdk.assertions import Match
from fastapi.routing import APIRoute

from infra.container_env import API_PORT, HEALTH_CHECK_PATH, SCRATCH_DIR
from services.api.routes import health as health_routes

if TYPE_CHECKING:
    from tests.infra.conftest import Synthesized


def _task_definition(app: Synthesized) -> dict[str, Any]:
    (task,) = app.resources(app.deployment.compute, "AWS::ECS::TaskDefinition").values()
    properties: dict[str, Any] = task["Properties"]
    return properties


def _job_definition(app: Synthesized) -> dict[str, Any]:
    (job,) = app.resources(app.deployment.compute, "AWS::Batch::JobDefinition").values()
    properties: dict[str, Any] = job["Properties"]
    return properties


def test_cluster_has_container_insights(each: Synthesized) -> None:
    each.template(each.deployment.compute).has_resource_properties(
        "AWS::ECS::Cluster",
        {"ClusterSettings": [{"Name": "containerInsights", "Value": "enabled"}]},
    )


def test_api_service_rolls_back_a_failed_deployment(each: Synthesized) -> None:
    each.template(each.deployment.compute).has_resource_properties(
        "AWS::ECS::Service",
        {
            "LaunchType": "FARGATE",
            "DesiredCount": each.config.api.desired_count,
            "DeploymentConfiguration": Match.object_like(
                {"DeploymentCircuitBreaker": {"Enable": True, "Rollback": True}}
            ),
            "NetworkConfiguration": {
                "AwsvpcConfiguration": Match.object_like({"AssignPublicIp": "DISABLED"})
            },
        },
    )


def test_api_service_runs_in_the_isolated_subnets(each: Synthesized) -> None:
    compute = each.deployment.compute
    (service,) = each.resources(compute, "AWS::ECS::Service").values()
    subnets = service["Properties"]["NetworkConfiguration"]["AwsvpcConfiguration"]["Subnets"]
    isolated = [
        each.resolve(compute, subnet.subnet_id)
        for subnet in each.deployment.network.vpc.isolated_subnets
    ]
    assert subnets == isolated


def test_api_service_scales_between_the_configured_counts_on_cpu(each: Synthesized) -> None:
    template = each.template(each.deployment.compute)
    template.has_resource_properties(
        "AWS::ApplicationAutoScaling::ScalableTarget",
        {
            "MinCapacity": each.config.api.min_count,
            "MaxCapacity": each.config.api.max_count,
            "ScalableDimension": "ecs:service:DesiredCount",
        },
    )
    template.has_resource_properties(
        "AWS::ApplicationAutoScaling::ScalingPolicy",
        {
            "PolicyType": "TargetTrackingScaling",
            "TargetTrackingScalingPolicyConfiguration": Match.object_like(
                {
                    "PredefinedMetricSpecification": {
                        "PredefinedMetricType": "ECSServiceAverageCPUUtilization"
                    },
                    "TargetValue": each.config.api.target_cpu_percent,
                }
            ),
        },
    )


def test_api_container_is_read_only_non_root_and_logs_to_cloudwatch(each: Synthesized) -> None:
    task = _task_definition(each)
    (container,) = task["ContainerDefinitions"]
    assert container["ReadonlyRootFilesystem"] is True
    uid, _, gid = container["User"].partition(":")
    assert int(uid) > 0 and int(gid) > 0
    assert container["LogConfiguration"]["LogDriver"] == "awslogs"
    assert container["PortMappings"] == [
        {"ContainerPort": API_PORT, "Name": "http", "Protocol": "tcp"}
    ]
    assert (task["Cpu"], task["Memory"]) == (
        str(each.config.api.cpu),
        str(each.config.api.memory_mib),
    )
    assert task["RequiresCompatibilities"] == ["FARGATE"]


def test_api_container_gets_a_private_scratch_volume_at_tmp(each: Synthesized) -> None:
    task = _task_definition(each)
    (container,) = task["ContainerDefinitions"]
    assert task["Volumes"] == [{"Name": "scratch"}]
    assert container["MountPoints"] == [
        {"ContainerPath": SCRATCH_DIR, "ReadOnly": False, "SourceVolume": "scratch"}
    ]


def test_load_balancer_checks_api_health_and_routes_only_api_paths(each: Synthesized) -> None:
    template = each.template(each.deployment.compute)
    template.has_resource_properties(
        "AWS::ElasticLoadBalancingV2::TargetGroup",
        {
            "HealthCheckPath": HEALTH_CHECK_PATH,
            "Matcher": {"HttpCode": "200"},
            "Port": API_PORT,
            "TargetType": "ip",
        },
    )
    template.has_resource_properties(
        "AWS::ElasticLoadBalancingV2::ListenerRule",
        {
            "Conditions": [
                {"Field": "path-pattern", "PathPatternConfig": {"Values": ["/api", "/api/*"]}}
            ],
            "Actions": [Match.object_like({"Type": "forward"})],
        },
    )


def test_api_tasks_accept_traffic_from_the_load_balancer_only(each: Synthesized) -> None:
    compute = each.deployment.compute
    balancer_group = each.resolve(
        compute, each.deployment.network.load_balancer_security_group.security_group_id
    )
    api_group = each.resolve(compute, compute.api.security_group.security_group_id)
    rules = [
        rule["Properties"]
        for rule in each.resources(compute, "AWS::EC2::SecurityGroupIngress").values()
        if rule["Properties"]["GroupId"] == api_group
    ]
    assert [(r["SourceSecurityGroupId"], r["FromPort"], r["ToPort"]) for r in rules] == [
        (balancer_group, API_PORT, API_PORT)
    ]
    (group,) = [
        g
        for g in each.resources(compute, "AWS::EC2::SecurityGroup").values()
        if "om api" in g["Properties"]["GroupDescription"]
    ]
    assert "SecurityGroupIngress" not in group["Properties"]


def test_loader_runs_on_a_fargate_compute_environment_behind_a_queue(each: Synthesized) -> None:
    template = each.template(each.deployment.compute)
    template.has_resource_properties(
        "AWS::Batch::ComputeEnvironment",
        {
            "Type": "managed",
            "ComputeResources": Match.object_like(
                {"Type": "FARGATE", "MaxvCpus": each.config.loader.max_vcpus}
            ),
        },
    )
    template.has_resource_properties(
        "AWS::Batch::JobQueue",
        {"ComputeEnvironmentOrder": [Match.object_like({"Order": 1})], "State": "ENABLED"},
    )


def test_loader_job_is_sized_for_multi_gigabyte_files(each: Synthesized) -> None:
    job = _job_definition(each)
    container = job["ContainerProperties"]
    loader = each.config.loader
    assert job["PlatformCapabilities"] == ["FARGATE"]
    assert container["EphemeralStorage"] == {"SizeInGiB": loader.ephemeral_storage_gib}
    assert loader.ephemeral_storage_gib >= 30
    assert job["Timeout"] == {"AttemptDurationSeconds": loader.timeout_minutes * 60}
    assert loader.timeout_minutes >= 120
    resources = {item["Type"]: item["Value"] for item in container["ResourceRequirements"]}
    assert resources == {
        "VCPU": f"{loader.cpu / 1024:g}",
        "MEMORY": str(loader.memory_mib),
    }


def test_loader_downloads_into_ephemeral_storage_under_a_read_only_root(
    each: Synthesized,
) -> None:
    container = _job_definition(each)["ContainerProperties"]
    environment = {item["Name"]: item["Value"] for item in container["Environment"]}
    assert container["ReadonlyRootFilesystem"] is True
    assert container["Volumes"] == [{"Name": "scratch"}]
    assert container["MountPoints"] == [{"ContainerPath": SCRATCH_DIR, "SourceVolume": "scratch"}]
    assert environment["OM_DOWNLOAD_DIR"] == SCRATCH_DIR
    uid, _, gid = container["User"].partition(":")
    assert int(uid) > 0 and int(gid) > 0
    assert container["LogConfiguration"]["LogDriver"] == "awslogs"
    assert container["NetworkConfiguration"] == {"AssignPublicIp": "DISABLED"}


def test_loader_retries_failures_worth_retrying_and_not_bad_usage(each: Synthesized) -> None:
    strategy = _job_definition(each)["RetryStrategy"]
    assert strategy["Attempts"] == each.config.loader.attempts
    assert {"Action": "EXIT", "OnExitCode": "2"} in strategy["EvaluateOnExit"]
    assert {"Action": "RETRY", "OnExitCode": "1"} in strategy["EvaluateOnExit"]


def test_api_service_is_created_after_its_listener_rule(each: Synthesized) -> None:
    # ECS refuses a service whose target group is not yet attached to a load balancer.
    compute = each.deployment.compute
    (service,) = each.resources(compute, "AWS::ECS::Service").values()
    (rule_id,) = each.resources(compute, "AWS::ElasticLoadBalancingV2::ListenerRule")
    assert rule_id in service["DependsOn"]


def test_listener_is_read_from_the_network_stack_output_not_an_export(each: Synthesized) -> None:
    (rule,) = each.resources(
        each.deployment.compute, "AWS::ElasticLoadBalancingV2::ListenerRule"
    ).values()
    assert "Fn::GetStackOutput" in rule["Properties"]["ListenerArn"]


def test_load_balancer_probes_liveness_not_the_deep_readiness_check(each: Synthesized) -> None:
    # /api/health reads the table: probing it, a DynamoDB blip would mark every task unhealthy
    # and have ECS replace the whole fleet. The liveness route touches no dependency.
    routes = {
        route.path: route.endpoint
        for route in health_routes.router.routes
        if isinstance(route, APIRoute)
    }
    assert routes[HEALTH_CHECK_PATH] is health_routes.live
    assert routes[HEALTH_CHECK_PATH] is not routes["/api/health"]
    (group,) = each.resources(
        each.deployment.compute, "AWS::ElasticLoadBalancingV2::TargetGroup"
    ).values()
    assert group["Properties"]["HealthCheckPath"] == "/api/health/live" == HEALTH_CHECK_PATH
