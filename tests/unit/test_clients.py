"""Client construction: timeouts, retry mode, and presigned URLs a plain `curl -T` can use."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import boto3
import pytest
from botocore.exceptions import ClientError, ParamValidationError

from shared.repository import make_clients
from shared.repository.uploads import UploadStore
from shared.settings import AwsSettings
from tests.support.botocore_faults import error_response

KEYS = {"aws_access_key_id": "AKIDEXAMPLE", "aws_secret_access_key": "secret"}


def test_clients_use_explicit_timeouts_and_standard_retries() -> None:
    settings = AwsSettings(
        connect_timeout_seconds=0.7, read_timeout_seconds=2.5, max_attempts=5, **KEYS
    )
    for client in (make_clients(settings).dynamodb, make_clients(settings).s3):
        config = client.meta.config
        assert (config.connect_timeout, config.read_timeout) == (0.7, 2.5)
        assert config.retries == {"mode": "standard", "total_max_attempts": 5}


def test_dynamodb_requests_skip_botocore_validation_which_dynamodb_repeats() -> None:
    dynamodb = make_clients(AwsSettings(**KEYS)).dynamodb
    # Answered before anything leaves botocore; the request was serialized (and would have
    # been validated) already.
    dynamodb.meta.events.register_first(
        "before-send.dynamodb", lambda request, **_: error_response(request.url, "Nope")
    )
    # A number where the model wants a string: botocore's own check would raise
    # ParamValidationError; DynamoDB answers such a request with a 400 itself.
    with pytest.raises(ClientError, match="Nope"):
        dynamodb.get_item(TableName="orders", Key={"PK": {"S": 5}})
    checked = boto3.client("dynamodb", region_name="us-east-1", **KEYS)
    with pytest.raises(ParamValidationError):
        checked.get_item(TableName="orders", Key={"PK": {"S": 5}})


def test_presigned_put_names_the_regional_endpoint_and_signs_no_content_type() -> None:
    settings = AwsSettings(region="eu-south-2", bucket_name="om-uploads", **KEYS)
    url = UploadStore(make_clients(settings).s3).presign_put("om-uploads", "uploads/abc.csv", 900)
    parsed = urlparse(url)
    assert parsed.hostname == "om-uploads.s3.eu-south-2.amazonaws.com"
    assert parsed.path == "/uploads/abc.csv"
    query = parse_qs(parsed.query)
    assert query["X-Amz-Expires"] == ["900"]
    assert query["X-Amz-SignedHeaders"] == ["host"]
