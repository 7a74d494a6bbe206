"""Settings of the API service (`OM_*` environment variables)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from shared.settings import AwsSettings

MAX_TRADE_GROUP = 100
"""The most trades one group may hold (a transaction holds at most 100 actions anyway)."""


class ApiSettings(AwsSettings):
    """What `om api` reads: the shared AWS settings plus how to serve HTTP.

    The read timeout is per attempt and shorter than the loader's: every request has an overall
    deadline (`request_deadline_seconds`) and DynamoDB retries stop before it, so a hung table
    is answered with a 503 within the deadline plus at most one read timeout.
    """

    read_timeout_seconds: Annotated[float, Field(gt=0, le=300)] = 0.5
    api_host: str = "127.0.0.1"
    api_port: Annotated[int, Field(ge=1, le=65535)] = 8080
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    retry_after_seconds: Annotated[int, Field(ge=1, le=3600)] = 1
    max_body_bytes: Annotated[int, Field(ge=1024, le=10_485_760)] = 65_536
    request_deadline_seconds: Annotated[float, Field(gt=0, le=60)] = 2.0
    trade_deadline_seconds: Annotated[float, Field(gt=0, le=60)] = 10.0
    trade_grouping: bool = True
    # The most trades settled in one transaction. Smaller groups are shorter transactions: less
    # for a concurrent amend to cancel and, on DynamoDB Local, a shorter wait for the reads it
    # blocks meanwhile; larger ones are more trades/s. README, "Group commit".
    trade_group_limit: Annotated[int, Field(ge=1, le=MAX_TRADE_GROUP)] = MAX_TRADE_GROUP
    trade_queue_limit: Annotated[int, Field(ge=1, le=10_000)] = 200
    idempotency_retention_hours: Annotated[int, Field(ge=24, le=24 * 30)] = 24
    upload_url_expiry_seconds: Annotated[int, Field(ge=60, le=900)] = 900
    api_key_cache_seconds: Annotated[float, Field(ge=0, le=60)] = 60.0
    circuit_breaker_threshold: Annotated[int, Field(ge=1, le=1000)] = 5
    circuit_breaker_cooldown_seconds: Annotated[float, Field(gt=0, le=300)] = 2.0
    metrics_endpoint: bool = False
