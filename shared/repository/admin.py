"""Creating the table and the upload bucket from the declaration, and checking the table."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from shared import keys
from shared.codecs import primary_key
from shared.repository._translate import error_code, store_errors
from shared.schema import PARTITION_KEY, TABLE, TableSchema

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client


def ensure_table(client: DynamoDBClient, table_name: str, schema: TableSchema = TABLE) -> bool:
    """Create `table_name` from `schema` (on-demand, TTL on) unless it exists. True if created."""
    request: dict[str, Any] = {
        "TableName": table_name,
        "AttributeDefinitions": schema.attribute_definitions(),
        "KeySchema": schema.key_schema(),
        "GlobalSecondaryIndexes": schema.global_secondary_indexes(),
        "BillingMode": "PAY_PER_REQUEST",
    }
    with store_errors():
        try:
            client.create_table(**request)
        except ClientError as error:
            if error_code(error) != "ResourceInUseException":
                raise
            return False
        client.get_waiter("table_exists").wait(
            TableName=table_name, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
        )
        client.update_time_to_live(
            TableName=table_name,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": schema.ttl_attribute},
        )
    return True


def delete_table(client: DynamoDBClient, table_name: str) -> None:
    """Delete `table_name` if it exists (tests and `--fresh` use this)."""
    with store_errors():
        try:
            client.delete_table(TableName=table_name)
        except ClientError as error:
            if error_code(error) != "ResourceNotFoundException":
                raise


def ensure_bucket(client: S3Client, bucket_name: str, region: str) -> bool:
    """Create `bucket_name` in `region` unless it exists. True if created."""
    request: dict[str, Any] = {"Bucket": bucket_name}
    if region != "us-east-1":
        request["CreateBucketConfiguration"] = {"LocationConstraint": region}
    with store_errors():
        try:
            client.create_bucket(**request)
        except ClientError as error:
            if error_code(error) not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise
            return False
    return True


def table_is_reachable(client: DynamoDBClient, table_name: str) -> None:
    """Read a probe key from the table; raises `StoreUnavailable` when the table cannot be read.

    A data-plane GetItem (of a key that never exists) rather than DescribeTable: it proves the
    permission the service really uses and needs no extra IAM action.
    """
    with store_errors():
        client.get_item(
            TableName=table_name,
            Key=primary_key(keys.HEALTH_PROBE, keys.HEALTH_PROBE),
            ProjectionExpression="#key",
            ExpressionAttributeNames={"#key": PARTITION_KEY},
        )
