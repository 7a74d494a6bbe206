"""Client construction: timeouts, retry mode, and presigned URLs a plain `curl -T` can use."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

from shared.repository import make_clients
from shared.repository.uploads import UploadStore
from shared.settings import AwsSettings

KEYS = {"aws_access_key_id": "AKIDEXAMPLE", "aws_secret_access_key": "secret"}


def test_clients_use_explicit_timeouts_and_standard_retries() -> None:
    settings = AwsSettings(
        connect_timeout_seconds=0.7, read_timeout_seconds=2.5, max_attempts=5, **KEYS
    )
    for client in (make_clients(settings).dynamodb, make_clients(settings).s3):
        config = client.meta.config
        assert (config.connect_timeout, config.read_timeout) == (0.7, 2.5)
        assert config.retries == {"mode": "standard", "total_max_attempts": 5}


def test_presigned_put_names_the_regional_endpoint_and_signs_no_content_type() -> None:
    settings = AwsSettings(region="eu-south-2", bucket_name="om-uploads", **KEYS)
    url = UploadStore(make_clients(settings).s3).presign_put("om-uploads", "uploads/abc.csv", 900)
    parsed = urlparse(url)
    assert parsed.hostname == "om-uploads.s3.eu-south-2.amazonaws.com"
    assert parsed.path == "/uploads/abc.csv"
    query = parse_qs(parsed.query)
    assert query["X-Amz-Expires"] == ["900"]
    assert query["X-Amz-SignedHeaders"] == ["host"]
