"""Data: the single DynamoDB table (built from `shared.schema.TABLE`) and the upload bucket."""

from __future__ import annotations

from aws_cdk import CfnOutput, Duration, Environment, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra import nag
from infra.config import DeploymentConfig
from infra.container_env import REPORT_PREFIX, UPLOAD_PREFIX
from shared.schema import TABLE, KeyAttribute, TableSchema

DESCRIPTION = "order-management: the DynamoDB table and the upload bucket"
_ATTRIBUTE_TYPES = {
    "S": dynamodb.AttributeType.STRING,
    "N": dynamodb.AttributeType.NUMBER,
    "B": dynamodb.AttributeType.BINARY,
}
_PROJECTIONS = {"ALL": dynamodb.ProjectionType.ALL, "KEYS_ONLY": dynamodb.ProjectionType.KEYS_ONLY}


def _attribute(key: KeyAttribute) -> dynamodb.Attribute:
    return dynamodb.Attribute(name=key.name, type=_ATTRIBUTE_TYPES[key.type])


class OrderTable(Construct):
    """The single table: keys, GSIs and TTL from the shared declaration; on-demand; PITR."""

    def __init__(
        self, scope: Construct, construct_id: str, *, schema: TableSchema, production: bool
    ) -> None:
        super().__init__(scope, construct_id)
        self.table = dynamodb.TableV2(
            self,
            "Table",
            partition_key=_attribute(schema.partition_key),
            sort_key=_attribute(schema.sort_key),
            global_secondary_indexes=[
                dynamodb.GlobalSecondaryIndexPropsV2(
                    index_name=index.name,
                    partition_key=_attribute(index.partition_key),
                    sort_key=_attribute(index.sort_key),
                    projection_type=_PROJECTIONS[index.projection],
                )
                for index in schema.global_indexes
            ],
            time_to_live_attribute=schema.ttl_attribute,
            billing=dynamodb.Billing.on_demand(),
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            deletion_protection=production,
            removal_policy=RemovalPolicy.RETAIN if production else RemovalPolicy.DESTROY,
        )


class UploadBucket(Construct):
    """Private, TLS-only, encrypted; S3 events go to EventBridge; uploads and reports expire."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        upload_expiry: Duration,
        report_expiry: Duration,
        production: bool,
    ) -> None:
        super().__init__(scope, construct_id)
        removal = RemovalPolicy.RETAIN if production else RemovalPolicy.DESTROY
        self.access_logs = s3.Bucket(
            self,
            "AccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            lifecycle_rules=[s3.LifecycleRule(expiration=Duration.days(90))],
            removal_policy=removal,
            auto_delete_objects=not production,
        )
        nag.acknowledge(
            self.access_logs,
            "S1",
            "This bucket receives the upload bucket's server access logs; logging its own "
            "access would only log the log deliveries.",
        )
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            event_bridge_enabled=True,
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix="upload-bucket/",
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-uploads", prefix=UPLOAD_PREFIX, expiration=upload_expiry
                ),
                s3.LifecycleRule(
                    id="expire-reports", prefix=REPORT_PREFIX, expiration=report_expiry
                ),
                s3.LifecycleRule(
                    id="abort-incomplete-uploads",
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                ),
            ],
            removal_policy=removal,
            auto_delete_objects=not production,
        )


class DataStack(Stack):
    """The table and the upload bucket: the state that outlives deployments outside dev."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: DeploymentConfig,
        env: Environment | None = None,
    ) -> None:
        super().__init__(scope, construct_id, env=env, description=DESCRIPTION)
        production = not config.is_dev
        self.table = OrderTable(self, "Orders", schema=TABLE, production=production).table
        uploads = UploadBucket(
            self,
            "Uploads",
            upload_expiry=Duration.days(config.upload_expiry_days),
            report_expiry=Duration.days(config.report_expiry_days),
            production=production,
        )
        self.bucket = uploads.bucket
        CfnOutput(self, "TableName", value=self.table.table_name, description="OM_TABLE_NAME")
        CfnOutput(self, "BucketName", value=self.bucket.bucket_name, description="OM_BUCKET_NAME")
        nag.acknowledge(
            self,
            "IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
            "AWSLambdaBasicExecutionRole]",
            "The only role in this stack with a managed policy is CDK's deploy-time bucket "
            "notifications handler (it switches on EventBridge delivery); the policy lets it "
            "write its own logs and nothing else.",
        )
