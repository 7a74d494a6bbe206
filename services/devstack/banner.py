"""What `om dev` prints once everything is up: where each service is and how to reach it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from services.devstack.dev_key import DEV_ACCOUNT
from services.devstack.environment import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY
from services.devstack.options import Engine

if TYPE_CHECKING:
    from services.api.settings import ApiSettings


def banner(
    settings: ApiSettings,
    engine: Engine,
    data_dir: Path,
    logs_dir: Path,
    created: tuple[bool, bool],
    *,
    in_ram: bool,
    api_key: tuple[str, Path],
) -> str:
    """The endpoints, the API key, the data and log folders, ready-to-paste commands."""
    key, key_path = api_key
    api = f"http://{_url_host(settings.api_host)}:{settings.api_port}/api"
    dynamodb = settings.dynamodb_endpoint_url
    s3 = settings.s3_endpoint_url
    table_state, bucket_state = ("created" if new else "kept" for new in created)
    if engine is Engine.DYNAMODB_LOCAL and in_ram:
        storage = f"DynamoDB Local, in RAM, data saved to {data_dir} on stop"
    elif engine is Engine.DYNAMODB_LOCAL:
        storage = f"DynamoDB Local, data in {data_dir}"
    else:
        storage = "moto, in memory only, one request at a time"
    return "\n".join(
        [
            f"om dev is up: DynamoDB on {storage}.",
            "",
            f"  API       {api}",
            f"  Swagger   {api}/swagger  (Authorize with the key below)",
            f"  metrics   {api}/metrics  (Prometheus text; the counters sent to CloudWatch on AWS)",
            f"  API key   {key}",
            f"            account {DEV_ACCOUNT}, every scope; also in {key_path}",
            f"  DynamoDB  {dynamodb}  table {settings.table_name} ({table_state})",
            f"  S3        {s3}  bucket {settings.bucket_name} ({bucket_state}; moto, in memory)",
            f"  logs      {logs_dir}  (emulator output; loader runs in loads/)",
            f"  uploads   s3://{settings.bucket_name}/{settings.upload_prefix}*.csv start"
            " `om load-job` (try: uv run om upload resources/sample-orders.csv)",
            "",
            f'  curl -H "Authorization: Bearer $(cat {key_path})" {api}/orderbook/JPM?side=0',
            "",
            "aws CLI (dummy credentials; every endpoint is on 127.0.0.1, nothing reaches AWS):",
            f"  export AWS_ACCESS_KEY_ID={ACCESS_KEY_ID} AWS_SECRET_ACCESS_KEY={SECRET_ACCESS_KEY}"
            f" AWS_DEFAULT_REGION={REGION}",
            f"  aws dynamodb scan --table-name {settings.table_name} --endpoint-url {dynamodb}",
            f"  aws s3 ls s3://{settings.bucket_name} --endpoint-url {s3}",
            "",
            "Ctrl-C stops everything. The API's JSON log follows.",
        ]
    )


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
