"""Least-privilege grants: exactly the AWS actions each service's code calls, on what it calls them.

The action lists are the contract `tests/infra/test_iam_contract.py` checks against a static scan
of `shared/repository/` (every boto3 call and the loader's raw TransactWriteItems and GetItem),
so a new call fails the tests until it is granted here, and a grant nobody calls fails them too.

* API: orders/trades/idempotency/load records are read and written item by item
  (GetItem, PutItem, DeleteItem); a trade's TransactWriteItems needs the actions of its parts
  (Update and Delete of filled orders, Put of the trade and idempotency records — no
  ConditionCheck); books are a Query on GSI1 only; batch loads presign a PutObject on the
  upload prefix (the URL carries the task role's authority, so the role needs it).
* Loader: the load record moves with UpdateItem and is read with GetItem; orders go in with
  TransactWriteItems of Puts (each batch with its marker; a marker is read back with GetItem); the
  upload is
  read with HeadObject + (ranged) GetObject, both `s3:GetObject`, plus `s3:ListBucket` on the
  bucket so a vanished upload is a 404 (`UploadMissing` → FAILED) rather than a 403 retried
  forever; the report goes up with upload_file, which turns multipart above 8 MB
  (CreateMultipartUpload/UploadPart/Complete are `s3:PutObject`; a failed part aborts with
  `s3:AbortMultipartUpload`).
"""

from __future__ import annotations

from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3

from shared.schema import BOOK_INDEX

API_TABLE_ACTIONS = (
    "dynamodb:DeleteItem",
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
)
API_BOOK_INDEX_ACTIONS = ("dynamodb:Query",)
API_UPLOAD_ACTIONS = ("s3:PutObject",)

LOADER_TABLE_ACTIONS = ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem")
LOADER_UPLOAD_ACTIONS = ("s3:GetObject",)
LOADER_BUCKET_ACTIONS = ("s3:ListBucket",)
LOADER_REPORT_ACTIONS = ("s3:AbortMultipartUpload", "s3:PutObject")


def index_arn(table: dynamodb.ITableV2, index_name: str) -> str:
    """The ARN of one global secondary index of `table` (no wildcard)."""
    return f"{table.table_arn}/index/{index_name}"


def objects_arn(bucket: s3.IBucket, prefix: str) -> str:
    """Every object under `prefix` in `bucket`."""
    return bucket.arn_for_objects(f"{prefix}*")


def grant_api(
    role: iam.IRole, *, table: dynamodb.ITableV2, bucket: s3.IBucket, upload_prefix: str
) -> list[str]:
    """Grant the API task role its calls; returns the wildcard resources granted (for cdk-nag)."""
    uploads = objects_arn(bucket, upload_prefix)
    role.add_to_principal_policy(
        iam.PolicyStatement(actions=list(API_TABLE_ACTIONS), resources=[table.table_arn])
    )
    role.add_to_principal_policy(
        iam.PolicyStatement(
            actions=list(API_BOOK_INDEX_ACTIONS), resources=[index_arn(table, BOOK_INDEX)]
        )
    )
    role.add_to_principal_policy(
        iam.PolicyStatement(actions=list(API_UPLOAD_ACTIONS), resources=[uploads])
    )
    return [uploads]


def grant_loader(
    role: iam.IRole,
    *,
    table: dynamodb.ITableV2,
    bucket: s3.IBucket,
    upload_prefix: str,
    report_prefix: str,
) -> list[str]:
    """Grant the loader job role its calls; returns the wildcard resources granted (for cdk-nag)."""
    uploads = objects_arn(bucket, upload_prefix)
    reports = objects_arn(bucket, report_prefix)
    role.add_to_principal_policy(
        iam.PolicyStatement(actions=list(LOADER_TABLE_ACTIONS), resources=[table.table_arn])
    )
    role.add_to_principal_policy(
        iam.PolicyStatement(actions=list(LOADER_UPLOAD_ACTIONS), resources=[uploads])
    )
    role.add_to_principal_policy(
        iam.PolicyStatement(actions=list(LOADER_BUCKET_ACTIONS), resources=[bucket.bucket_arn])
    )
    role.add_to_principal_policy(
        iam.PolicyStatement(actions=list(LOADER_REPORT_ACTIONS), resources=[reports])
    )
    return [uploads, reports]
