"""What each container is told: its `OM_*` environment, the port, the user and the bucket layout.

Every setting a service reads (its pydantic settings class) is set here explicitly, except the
local-only ones (`LOCAL_ONLY_SETTINGS`): on AWS the endpoints are the regional defaults and the
credentials come from the task role. A contract test derives the expected names from `ApiSettings`
and `LoaderSettings`, so a new setting fails the infra tests until it is decided here.
"""

from __future__ import annotations

from collections.abc import Mapping

from infra.config import DeploymentConfig
from services.metrics import DEFAULT_NAMESPACE
from shared.repository.load_writer import MAX_BATCH_ROWS

LOCAL_ONLY_SETTINGS = frozenset(
    {"dynamodb_endpoint_url", "s3_endpoint_url", "aws_access_key_id", "aws_secret_access_key"}
)

API_PORT = 8080
HEALTH_CHECK_PATH = "/api/health/live"
# The images' `USER` (Dockerfile.api / Dockerfile.loader): a numeric, non-root uid:gid.
RUN_AS_USER = "10001:10001"
UPLOAD_PREFIX = "uploads/"
REPORT_PREFIX = "reports/"
# The loader's only writable path: task ephemeral storage mounted over the read-only root.
SCRATCH_DIR = "/tmp"


def metrics_namespace(config: DeploymentConfig) -> str:
    """`OM_METRICS_NAMESPACE`: the environment's own CloudWatch namespace for the services' EMF."""
    return f"{DEFAULT_NAMESPACE}/{config.name}"


def _variables(values: Mapping[str, object]) -> dict[str, str]:
    return {f"OM_{name.upper()}": str(value) for name, value in values.items()}


def _shared(
    config: DeploymentConfig, *, table_name: str, bucket_name: str, region: str
) -> dict[str, object]:
    return {
        "table_name": table_name,
        "bucket_name": bucket_name,
        "upload_prefix": UPLOAD_PREFIX,
        "region": region,
        "connect_timeout_seconds": 1.0,
        "max_attempts": 4,
        "log_level": config.log_level,
        # Both services publish here; the monitoring stack's alarms and dashboard read it.
        "metrics_namespace": metrics_namespace(config),
        # The contract's bound on one upload; the loader ends a larger one FAILED unread.
        "max_upload_bytes": 5 * 1024**3,
    }


def api_environment(
    config: DeploymentConfig, *, table_name: str, bucket_name: str, region: str
) -> dict[str, str]:
    """`OM_*` variables of the `om api` container."""
    return _variables(
        _shared(config, table_name=table_name, bucket_name=bucket_name, region=region)
        | {
            # Per attempt: a request's DynamoDB retries stop at its deadline, so a hung table
            # is a 503 within the deadline plus at most one read timeout (the contract: 3 s).
            "read_timeout_seconds": 0.5,
            "request_deadline_seconds": 2.0,
            "max_pool_connections": 50,
            "api_host": "0.0.0.0",
            "api_port": API_PORT,
            "retry_after_seconds": 1,
            "max_body_bytes": 65_536,
            "trade_deadline_seconds": 10.0,
            "trade_grouping": True,
            "trade_group_limit": 100,
            "trade_queue_limit": 200,
            "idempotency_retention_hours": 24,
            # The longest AWS allows for a URL signed with task-role credentials is their own
            # lifetime; 15 minutes is well inside it.
            "upload_url_expiry_seconds": 900,
            # Bounds how long a key revoked through another task keeps working on this one.
            "api_key_cache_seconds": 60.0,
            "circuit_breaker_threshold": 5,
            "circuit_breaker_cooldown_seconds": 2.0,
            # CloudWatch aggregates the EMF in the logs; a per-task Prometheus view would be
            # partial and an extra endpoint behind the load balancer.
            "metrics_endpoint": False,
        }
    )


def loader_environment(
    config: DeploymentConfig, *, table_name: str, bucket_name: str, region: str
) -> dict[str, str]:
    """`OM_*` variables of the `om load-job` container."""
    workers = 16
    return _variables(
        _shared(config, table_name=table_name, bucket_name=bucket_name, region=region)
        | {
            # Reads of a multi-GB object stream in ranged parts; one slow part is retried.
            "read_timeout_seconds": 10.0,
            "max_pool_connections": workers * 2,
            "download_dir": SCRATCH_DIR,
            "report_prefix": REPORT_PREFIX,
            "load_workers": workers,
            # One batch is one TransactWriteItems: 99 rows and the batch's marker (the cap is 100).
            "load_batch_rows": MAX_BATCH_ROWS,
            # A retried Batch attempt waits this long for a dead attempt's lease to lapse; three
            # heartbeats (progress intervals) fit in it, so a live run never loses it to a hiccup.
            "load_lease_seconds": 60.0,
            "max_rejected_rows": 100_000,
            "progress_interval_seconds": 2.0,
            "write_deadline_seconds": 300.0,
        }
    )
