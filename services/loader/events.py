"""The loader's event contract: which S3 events start a load, and what a load needs from one.

One definition serves the CDK rule (S3 "Object Created" → Batch SubmitJob with `Ref::bucket` and
`Ref::key` parameters) and `om dev`'s local mirror (the same rule on moto, targeting a queue).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def upload_event_pattern(bucket: str, upload_prefix: str) -> dict[str, Any]:
    """EventBridge pattern: an object created in `bucket` under `upload_prefix`."""
    return {
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        "detail": {
            "bucket": {"name": [bucket]},
            "object": {"key": [{"prefix": upload_prefix}]},
        },
    }


def uploaded_object(event: Mapping[str, Any]) -> tuple[str, str]:
    """(bucket, key) of an S3 "Object Created" EventBridge event; `ValueError` for anything else."""
    try:
        detail = event["detail"]
        return str(detail["bucket"]["name"]), str(detail["object"]["key"])
    except (KeyError, TypeError) as error:
        raise ValueError("not an S3 Object Created event") from error


def load_job_command(bucket: str, key: str) -> list[str]:
    """The loader's command line for one upload: exactly what the Batch job definition runs."""
    return ["om", "load-job", "--bucket", bucket, "--key", key]
