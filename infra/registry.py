"""Registry: the API and loader images, built by CDK and kept in our own scanned, immutable repos.

How an image gets to ECR, in one path and without manual tagging: `cdk deploy` builds
Dockerfile.api / Dockerfile.loader as CDK image assets (synth only fingerprints the build context,
so it needs no Docker) and pushes them to the bootstrap staging repository, tagged with the
content hash. This stack then copies each image (cdk-ecr-deployment, a deploy-time custom
resource) into its own repository under that same content-hash tag: scan on push, immutable tags,
lifecycle rules. The services run the image from their own repository by that tag, so a changed
image is a new tag and a new task definition; an unchanged one is neither rebuilt nor re-copied.
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Duration, Environment, RemovalPolicy, Stack
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from cdk_ecr_deployment import DockerImageName, ECRDeployment
from constructs import Construct

from infra import nag
from infra.config import DeploymentConfig

DESCRIPTION = "order-management: container images (API, loader) in scanned, immutable ECR repos"
PROJECT_ROOT = Path(__file__).resolve().parent.parent
KEEP_IMAGES = 20


class ServiceImage(Construct):
    """One service image: its ECR repository, the CDK asset built from its Dockerfile, the copy."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        dockerfile: str,
        removal: RemovalPolicy,
        copier: iam.Role,
    ) -> None:
        super().__init__(scope, construct_id)
        self.repository = ecr.Repository(
            self,
            "Repository",
            image_scan_on_push=True,
            image_tag_mutability=ecr.TagMutability.IMMUTABLE,
            encryption=ecr.RepositoryEncryption.AES_256,
            lifecycle_rules=[
                ecr.LifecycleRule(
                    description="Drop untagged images (failed or partial copies) after a day",
                    rule_priority=1,
                    tag_status=ecr.TagStatus.UNTAGGED,
                    max_image_age=Duration.days(1),
                ),
                ecr.LifecycleRule(
                    description=f"Keep the {KEEP_IMAGES} most recent images for rollbacks",
                    rule_priority=2,
                    tag_status=ecr.TagStatus.ANY,
                    max_image_count=KEEP_IMAGES,
                ),
            ],
            removal_policy=removal,
            empty_on_delete=removal == RemovalPolicy.DESTROY,
        )
        self.asset = ecr_assets.DockerImageAsset(
            self,
            "Asset",
            directory=str(PROJECT_ROOT),
            file=dockerfile,
            platform=ecr_assets.Platform.LINUX_AMD64,
            display_name=f"{construct_id} image ({dockerfile})",
        )
        # The content hash names the image in both repositories: immutable and reproducible.
        self.tag = self.asset.asset_hash
        self.copy = ECRDeployment(
            self,
            "Copy",
            src=DockerImageName(self.asset.image_uri),
            dest=DockerImageName(self.repository.repository_uri_for_tag(self.tag)),
            role=copier.without_policy_updates(),
        )
        self.asset.repository.grant_pull(copier)
        self.repository.grant_push(copier)
        # The task definitions name the tag, so they must wait for the copy to finish.
        self.image = ecs.ContainerImage.from_ecr_repository(self.repository, self.tag)


class RegistryStack(Stack):
    """ECR repositories for the API and loader images, filled on `cdk deploy`."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: DeploymentConfig,
        env: Environment | None = None,
    ) -> None:
        super().__init__(scope, construct_id, env=env, description=DESCRIPTION)
        removal = RemovalPolicy.DESTROY if config.is_dev else RemovalPolicy.RETAIN
        copier = iam.Role(
            self,
            "ImageCopier",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="Copies CDK-built images from the asset repository into ours",
            managed_policies=[
                iam.ManagedPolicy.from_aws_managed_policy_name(
                    "service-role/AWSLambdaBasicExecutionRole"
                )
            ],
        )
        self.api = ServiceImage(
            self, "Api", dockerfile="Dockerfile.api", removal=removal, copier=copier
        )
        self.loader = ServiceImage(
            self, "Loader", dockerfile="Dockerfile.loader", removal=removal, copier=copier
        )
        nag.acknowledge(
            copier,
            "IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
            "AWSLambdaBasicExecutionRole]",
            "The deploy-time copy function only writes its own CloudWatch logs with this policy; "
            "its log group is named by Lambda at deploy time.",
        )
        nag.acknowledge(
            copier,
            "IAM5[Resource::*]",
            "ecr:GetAuthorizationToken has no resource-level permissions; every other ECR "
            "action is granted on the asset repository and our two repositories only.",
        )
