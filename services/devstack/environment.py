"""The settings and process environment `om dev` imposes: loopback endpoints and dummy keys.

Nothing can reach real AWS: every endpoint is a 127.0.0.1 URL and the credentials are fixed
dummies, passed explicitly in the settings and exported (with `AWS_PROFILE` and session tokens
removed) so later child processes such as a loader inherit them.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from services.api.settings import ApiSettings
    from services.devstack.options import DevOptions

# moto serves one request at a time, so a burst of requests queues behind its lock for seconds;
# the API's store timeouts (sized for DynamoDB's milliseconds) would take that for an outage and
# answer 503s, whose abandoned requests then lengthen the queue further.
MOTO_READ_TIMEOUT_SECONDS = 15.0
MOTO_REQUEST_DEADLINE_SECONDS = 30.0

# om dev's own calls (the table, the key, marking loads) meet a JVM that has just started and
# whose first requests take seconds; the API's read timeout is sized for requests in flight.
OWN_CALLS_READ_TIMEOUT_SECONDS = 15.0

ACCESS_KEY_ID = "omlocal"
SECRET_ACCESS_KEY = "omlocalsecret"
DEV_LOAD_LEASE_SECONDS = 10
REGION = "us-east-1"


def settings_overrides(options: DevOptions) -> dict[str, object]:
    """The settings `om dev` fixes whatever the environment says: loopback endpoints, dummy keys."""
    return {
        "dynamodb_endpoint_url": options.dynamodb_endpoint_url,
        "s3_endpoint_url": options.s3_endpoint_url,
        "aws_access_key_id": ACCESS_KEY_ID,
        "aws_secret_access_key": SECRET_ACCESS_KEY,
        "region": REGION,
        "api_host": options.host,
        "api_port": options.port,
        # The counters the containers send to CloudWatch, readable here with the dev key.
        "metrics_endpoint": True,
    }


def settings_for_own_calls(settings: ApiSettings) -> ApiSettings:
    """`settings` for om dev's own store calls: patient with an emulator that just started."""
    timeout = max(settings.read_timeout_seconds, OWN_CALLS_READ_TIMEOUT_SECONDS)
    return settings.model_copy(update={"read_timeout_seconds": timeout})


def settings_for_moto(settings: ApiSettings) -> ApiSettings:
    """`settings` with store timeouts long enough to wait in moto's queue (never shortened)."""
    return settings.model_copy(
        update={
            "read_timeout_seconds": max(settings.read_timeout_seconds, MOTO_READ_TIMEOUT_SECONDS),
            "request_deadline_seconds": max(
                settings.request_deadline_seconds, MOTO_REQUEST_DEADLINE_SECONDS
            ),
        }
    )


def export_environment(settings: ApiSettings) -> None:
    """Point this process and every later child at the local endpoints, with the dummy keys."""
    # With a profile set, botocore skips the environment's keys; a stray session token would be
    # sent along with them. Either could lead a child to sign for a real account.
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        os.environ.pop(name, None)
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            # Honoured by boto3 and the aws CLI v2 even when code forgets an endpoint_url.
            "AWS_ENDPOINT_URL_DYNAMODB": settings.dynamodb_endpoint_url or "",
            "AWS_ENDPOINT_URL_S3": settings.s3_endpoint_url or "",
            "OM_DYNAMODB_ENDPOINT_URL": settings.dynamodb_endpoint_url or "",
            "OM_S3_ENDPOINT_URL": settings.s3_endpoint_url or "",
            "OM_AWS_ACCESS_KEY_ID": ACCESS_KEY_ID,
            "OM_AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
            "OM_REGION": REGION,
            "OM_TABLE_NAME": settings.table_name,
            "OM_BUCKET_NAME": settings.bucket_name,
        }
    )
    # om dev runs one load at a time, so a killed loader's lease only delays its retry: keep
    # that delay short (AWS's default is 60 s). A value the user set is kept.
    os.environ.setdefault("OM_LOAD_LEASE_SECONDS", str(DEV_LOAD_LEASE_SECONDS))
