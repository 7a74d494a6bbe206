"""The data stack: the table as `shared.schema.TABLE` declares it, and the upload bucket."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_cdk.assertions import Match

from infra.container_env import REPORT_PREFIX, UPLOAD_PREFIX
from shared.schema import TABLE

if TYPE_CHECKING:
    from tests.infra.conftest import Synthesized


def _table(app: Synthesized) -> dict[str, Any]:
    (table,) = app.resources(app.deployment.data, "AWS::DynamoDB::GlobalTable").values()
    return table


def test_table_key_schema_is_the_shared_declaration(each: Synthesized) -> None:
    properties = _table(each)["Properties"]
    assert properties["KeySchema"] == TABLE.key_schema()
    assert properties["AttributeDefinitions"] == TABLE.attribute_definitions()


def test_book_index_is_the_shared_declaration(each: Synthesized) -> None:
    properties = _table(each)["Properties"]
    assert properties["GlobalSecondaryIndexes"] == TABLE.global_secondary_indexes()


def test_table_is_on_demand_with_ttl_on_the_declared_attribute(each: Synthesized) -> None:
    each.template(each.deployment.data).has_resource_properties(
        "AWS::DynamoDB::GlobalTable",
        {
            "BillingMode": "PAY_PER_REQUEST",
            "TimeToLiveSpecification": {"AttributeName": TABLE.ttl_attribute, "Enabled": True},
        },
    )


def test_table_has_point_in_time_recovery(each: Synthesized) -> None:
    # cdk-nag's DDB3 does not look at TableV2 (AWS::DynamoDB::GlobalTable), so it is checked here.
    (replica,) = _table(each)["Properties"]["Replicas"]
    assert replica["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}


def test_production_table_is_protected_and_retained(prod: Synthesized) -> None:
    table = _table(prod)
    (replica,) = table["Properties"]["Replicas"]
    assert replica["DeletionProtectionEnabled"] is True
    assert table["DeletionPolicy"] == "Retain"
    assert table["UpdateReplacePolicy"] == "Retain"


def test_dev_table_can_be_destroyed(dev: Synthesized) -> None:
    table = _table(dev)
    (replica,) = table["Properties"]["Replicas"]
    assert replica.get("DeletionProtectionEnabled", False) is False
    assert table["DeletionPolicy"] == "Delete"


def _upload_bucket(app: Synthesized) -> tuple[str, dict[str, Any]]:
    bucket = app.deployment.data.bucket
    logical_id = app.resolve(app.deployment.data, bucket.bucket_name)["Ref"]
    return logical_id, app.template_json(app.deployment.data)["Resources"][logical_id]


def test_upload_bucket_blocks_public_access_and_is_encrypted(each: Synthesized) -> None:
    _, bucket = _upload_bucket(each)
    assert bucket["Properties"]["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    (rule,) = bucket["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("AES256", "aws:kms")


def test_upload_bucket_refuses_requests_without_tls(each: Synthesized) -> None:
    logical_id, _ = _upload_bucket(each)
    each.template(each.deployment.data).has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "Bucket": {"Ref": logical_id},
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Effect": "Deny",
                                "Action": "s3:*",
                                "Principal": {"AWS": "*"},
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                            }
                        )
                    ]
                )
            },
        },
    )


def test_upload_bucket_sends_its_events_to_eventbridge(each: Synthesized) -> None:
    logical_id, _ = _upload_bucket(each)
    each.template(each.deployment.data).has_resource_properties(
        "Custom::S3BucketNotifications",
        {
            "BucketName": {"Ref": logical_id},
            "NotificationConfiguration": {"EventBridgeConfiguration": {}},
        },
    )


def test_uploads_and_reports_expire_after_the_configured_days(each: Synthesized) -> None:
    _, bucket = _upload_bucket(each)
    rules = {
        rule.get("Prefix"): rule
        for rule in bucket["Properties"]["LifecycleConfiguration"]["Rules"]
        if rule["Status"] == "Enabled"
    }
    assert rules[UPLOAD_PREFIX]["ExpirationInDays"] == each.config.upload_expiry_days
    assert rules[REPORT_PREFIX]["ExpirationInDays"] == each.config.report_expiry_days
    assert rules[None]["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}


def test_upload_bucket_logs_access_to_a_separate_bucket(each: Synthesized) -> None:
    logical_id, bucket = _upload_bucket(each)
    target = bucket["Properties"]["LoggingConfiguration"]["DestinationBucketName"]
    assert target != {"Ref": logical_id}
    assert target["Ref"] in each.resources(each.deployment.data, "AWS::S3::Bucket")


def test_production_bucket_is_retained(prod: Synthesized) -> None:
    _, bucket = _upload_bucket(prod)
    assert bucket["DeletionPolicy"] == "Retain"
