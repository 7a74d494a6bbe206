"""A presigned upload URL on moto's S3 server (what `om dev` runs): `If-None-Match: *` holds.

`om upload` (and the README's curl) sends the header so a URL used once cannot overwrite the file
it took; this pins that the local S3 honours it, through a presigned URL, as S3 does.
"""

from __future__ import annotations

import uuid

import httpx

from shared.repository import ensure_bucket, make_clients
from shared.repository.uploads import UploadStore
from shared.settings import AwsSettings

ONCE = {"If-None-Match": "*"}


def test_a_second_put_to_a_presigned_url_is_refused_and_keeps_the_first_file(
    moto_server: str,
) -> None:
    settings = AwsSettings(
        s3_endpoint_url=moto_server,
        bucket_name=f"om-{uuid.uuid4().hex[:12]}",
        aws_access_key_id="omlocal",
        aws_secret_access_key="omlocalsecret",
    )
    s3 = make_clients(settings).s3
    ensure_bucket(s3, settings.bucket_name, settings.region)
    url = UploadStore(s3).presign_put(settings.bucket_name, "uploads/once.csv", 900)

    assert httpx.put(url, content=b"first", headers=ONCE).status_code == 200
    second = httpx.put(url, content=b"second", headers=ONCE)

    assert second.status_code == 412
    assert "<Code>PreconditionFailed</Code>" in second.text
    stored = s3.get_object(Bucket=settings.bucket_name, Key="uploads/once.csv")
    assert stored["Body"].read() == b"first"
