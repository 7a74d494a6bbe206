"""Settings of the API service (`OM_*` environment variables)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from shared.settings import AwsSettings


class ApiSettings(AwsSettings):
    """What `om api` reads: the shared AWS settings plus how to serve HTTP."""

    api_host: str = "127.0.0.1"
    api_port: Annotated[int, Field(ge=1, le=65535)] = 8080
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    retry_after_seconds: Annotated[int, Field(ge=1, le=3600)] = 1
    max_body_bytes: Annotated[int, Field(ge=1024, le=10_485_760)] = 65_536
    trade_deadline_seconds: Annotated[float, Field(gt=0, le=60)] = 10.0
    idempotency_retention_hours: Annotated[int, Field(ge=24, le=24 * 30)] = 24
    upload_url_expiry_seconds: Annotated[int, Field(ge=60, le=900)] = 900
