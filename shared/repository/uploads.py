"""The upload bucket: presigned PUT URLs, object facts, streamed download, error reports."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from shared.errors import UploadMissing, UploadReplaced
from shared.repository._translate import error_code, store_errors

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


@dataclass(frozen=True, slots=True)
class UploadedObject:
    """What S3 says about an uploaded object."""

    bucket: str
    key: str
    size: int
    last_modified: datetime
    etag: str


class UploadStore:
    """S3 operations of the batch-load flow."""

    def __init__(self, client: S3Client) -> None:
        self._client = client

    def presign_put(self, bucket: str, key: str, expires_in_seconds: int) -> str:
        """A URL that accepts one `PUT` of the object's bytes until it expires.

        No Content-Type is signed, so a plain `curl -T file.csv URL` (which sends none, or
        whatever it guesses) is accepted.
        """
        with store_errors():
            return self._client.generate_presigned_url(
                "put_object",
                Params={"Bucket": bucket, "Key": key},
                ExpiresIn=expires_in_seconds,
                HttpMethod="PUT",
            )

    def describe(self, bucket: str, key: str) -> UploadedObject:
        """Size, time and ETag of the object. Raises `UploadMissing`."""
        with store_errors():
            try:
                head = self._client.head_object(Bucket=bucket, Key=key)
            except ClientError as error:
                if error_code(error) in ("404", "NoSuchKey", "NotFound"):
                    raise UploadMissing(bucket, key) from error
                raise
        return UploadedObject(
            bucket=bucket,
            key=key,
            size=head["ContentLength"],
            last_modified=head["LastModified"],
            etag=head["ETag"].strip('"'),
        )

    def download(self, upload: UploadedObject, target: Path) -> None:
        """Stream the object to `target` on local disk (never whole in memory).

        One sequential GET in 1 MiB chunks rather than `download_file`: its 10 transfer threads
        raised the loader's peak RSS by ~20 MiB that never came back (bench/loader.py). The GET
        is conditional on `upload.etag`: an object replaced since (a second PUT to the same
        URL) raises `UploadReplaced` instead of loading other bytes than the load pinned.
        """
        with store_errors():
            try:
                body = self._client.get_object(
                    Bucket=upload.bucket, Key=upload.key, IfMatch=f'"{upload.etag}"'
                )["Body"]
                with target.open("wb") as sink:
                    for chunk in body.iter_chunks(1 << 20):
                        sink.write(chunk)
            except ClientError as error:
                code = error_code(error)
                if code in ("404", "NoSuchKey", "NotFound"):
                    raise UploadMissing(upload.bucket, upload.key) from error
                if code in ("412", "PreconditionFailed"):
                    raise UploadReplaced(upload.bucket, upload.key) from error
                raise

    def put_file(self, bucket: str, key: str, source: Path, content_type: str) -> None:
        """Upload a local file (the rejected-rows report)."""
        with store_errors():
            self._client.upload_file(
                str(source), bucket, key, ExtraArgs={"ContentType": content_type}
            )
