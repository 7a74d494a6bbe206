"""Compute: the ECS cluster with the API service, the loader's Batch jobs, and their grants.

The grants are made here, where the roles meet the table and bucket handed over from the data
stack (`infra.permissions` lists exactly what each service's code calls).
"""

from __future__ import annotations

from aws_cdk import Aws, Environment, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra import nag
from infra.api_service import ApiService
from infra.config import DeploymentConfig
from infra.container_env import REPORT_PREFIX, UPLOAD_PREFIX, api_environment, loader_environment
from infra.load_jobs import LoadJobs
from infra.permissions import grant_api, grant_loader

DESCRIPTION = "order-management: the API on ECS Fargate and the loader on AWS Batch"
PREFIX_REASON = (
    "Object ARNs under one key prefix of the upload bucket: the code reads and writes keys it "
    "derives at run time (one per load), so the prefix is the narrowest resource there is."
)
EXECUTION_ROLE_REASON = (
    "CDK's image-pull grant on the execution role: ecr:GetAuthorizationToken has no "
    "resource-level permissions; the pull actions themselves are on the one repository."
)


class ComputeStack(Stack):
    """ECS cluster (Container Insights), the API service, the loader's queue and job definition."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: DeploymentConfig,
        vpc: ec2.IVpc,
        app_subnets: ec2.SubnetSelection,
        listener: elbv2.IApplicationListener,
        load_balancer_security_group: ec2.ISecurityGroup,
        table: dynamodb.ITableV2,
        bucket: s3.IBucket,
        api_image: ecs.ContainerImage,
        loader_image: ecs.ContainerImage,
        env: Environment | None = None,
    ) -> None:
        super().__init__(scope, construct_id, env=env, description=DESCRIPTION)
        removal = RemovalPolicy.DESTROY if config.is_dev else RemovalPolicy.RETAIN
        locations = {
            "table_name": table.table_name,
            "bucket_name": bucket.bucket_name,
            "region": Aws.REGION,
        }

        self.cluster = ecs.Cluster(
            self, "Cluster", vpc=vpc, container_insights_v2=ecs.ContainerInsights.ENABLED
        )
        self.api = ApiService(
            self,
            "Api",
            cluster=self.cluster,
            subnets=app_subnets,
            image=api_image,
            environment=api_environment(config, **locations),
            listener=listener,
            load_balancer_security_group=load_balancer_security_group,
            size=config.api,
            log_retention_days=config.log_retention_days,
            removal=removal,
        )
        self.loader = LoadJobs(
            self,
            "Loader",
            vpc=vpc,
            subnets=app_subnets,
            image=loader_image,
            environment=loader_environment(config, **locations),
            size=config.loader,
            log_retention_days=config.log_retention_days,
            removal=removal,
        )

        api_wildcards = grant_api(
            self.api.task_role, table=table, bucket=bucket, upload_prefix=UPLOAD_PREFIX
        )
        nag.acknowledge_wildcard_resources(self.api.task_role, api_wildcards, PREFIX_REASON)
        loader_wildcards = grant_loader(
            self.loader.job_role,
            table=table,
            bucket=bucket,
            upload_prefix=UPLOAD_PREFIX,
            report_prefix=REPORT_PREFIX,
        )
        nag.acknowledge_wildcard_resources(self.loader.job_role, loader_wildcards, PREFIX_REASON)
        for execution_role in (
            self.api.task_definition.execution_role,
            self.loader.container.execution_role,
        ):
            assert execution_role is not None
            nag.acknowledge(execution_role, "IAM5[Resource::*]", EXECUTION_ROLE_REASON)
