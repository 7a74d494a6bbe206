"""The API: `om api` on ECS Fargate behind the load balancer, autoscaled, rolled back on failure."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra import nag
from infra.config import ApiConfig
from infra.container_env import API_PORT, HEALTH_CHECK_PATH, RUN_AS_USER, SCRATCH_DIR
from infra.log_retention import retention

# Everything the API serves is under /api (routes, /api/swagger, /api/openapi.json).
API_PATHS = ("/api", "/api/*")
LISTENER_RULE_PRIORITY = 10


class ApiService(Construct):
    """Task definition, Fargate service, target group and listener rule, scaling policy."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        cluster: ecs.ICluster,
        subnets: ec2.SubnetSelection,
        image: ecs.ContainerImage,
        environment: Mapping[str, str],
        listener: elbv2.IApplicationListener,
        load_balancer_security_group: ec2.ISecurityGroup,
        size: ApiConfig,
        log_retention_days: int,
        removal: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        self.task_role = iam.Role(
            self,
            "TaskRole",
            assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com"),
            description="om api: the table and presigned uploads, nothing else",
        )
        self.task_definition = ecs.FargateTaskDefinition(
            self,
            "Task",
            cpu=size.cpu,
            memory_limit_mib=size.memory_mib,
            runtime_platform=ecs.RuntimePlatform(
                cpu_architecture=ecs.CpuArchitecture.X86_64,
                operating_system_family=ecs.OperatingSystemFamily.LINUX,
            ),
            task_role=self.task_role,
            volumes=[ecs.Volume(name="scratch")],
        )
        self.log_group = logs.LogGroup(
            self, "Logs", retention=retention(log_retention_days), removal_policy=removal
        )
        container = self.task_definition.add_container(
            "api",
            image=image,
            environment=dict(environment),
            logging=ecs.LogDrivers.aws_logs(stream_prefix="api", log_group=self.log_group),
            readonly_root_filesystem=True,
            user=RUN_AS_USER,
            port_mappings=[ecs.PortMapping(container_port=API_PORT, name="http")],
            stop_timeout=Duration.seconds(30),
        )
        # Nothing writes at run time, but a library asking for a temp file gets a private one.
        container.add_mount_points(
            ecs.MountPoint(container_path=SCRATCH_DIR, source_volume="scratch", read_only=False)
        )

        self.security_group = ec2.SecurityGroup(
            self,
            "SecurityGroup",
            vpc=cluster.vpc,
            description="om api tasks: HTTP from the load balancer only",
            # Isolated subnets: the only destinations are the VPC endpoints, and the S3 and
            # DynamoDB gateway endpoints are prefix lists that need a lookup to name.
            allow_all_outbound=True,
        )
        self.service = ecs.FargateService(
            self,
            "Service",
            cluster=cluster,
            task_definition=self.task_definition,
            desired_count=size.desired_count,
            min_healthy_percent=100,
            max_healthy_percent=200,
            circuit_breaker=ecs.DeploymentCircuitBreaker(enable=True, rollback=True),
            vpc_subnets=subnets,
            security_groups=[self.security_group],
            assign_public_ip=False,
            health_check_grace_period=Duration.seconds(30),
            propagate_tags=ecs.PropagatedTagSource.SERVICE,
        )
        self.service.connections.allow_from(
            load_balancer_security_group, ec2.Port.tcp(API_PORT), "load balancer to om api"
        )

        self.target_group = elbv2.ApplicationTargetGroup(
            self,
            "Targets",
            vpc=cluster.vpc,
            port=API_PORT,
            protocol=elbv2.ApplicationProtocol.HTTP,
            target_type=elbv2.TargetType.IP,
            targets=[self.service],
            deregistration_delay=Duration.seconds(30),
            health_check=elbv2.HealthCheck(
                path=HEALTH_CHECK_PATH,
                healthy_http_codes="200",
                interval=Duration.seconds(15),
                timeout=Duration.seconds(5),
                healthy_threshold_count=2,
                unhealthy_threshold_count=3,
            ),
        )
        elbv2.ApplicationListenerRule(
            self,
            "Route",
            listener=listener,
            priority=LISTENER_RULE_PRIORITY,
            conditions=[elbv2.ListenerCondition.path_patterns(list(API_PATHS))],
            target_groups=[self.target_group],
        )

        scaling = self.service.auto_scale_task_count(
            min_capacity=size.min_count, max_capacity=size.max_count
        )
        scaling.scale_on_cpu_utilization(
            "Cpu",
            target_utilization_percent=size.target_cpu_percent,
            scale_in_cooldown=Duration.seconds(120),
            scale_out_cooldown=Duration.seconds(60),
        )

        nag.acknowledge(
            self.task_definition,
            "ECS2",
            "The OM_* variables are non-secret configuration (table, bucket, timeouts); the "
            "service has no secrets: AWS access comes from the task role.",
        )
