"""Settings common to every service: where the table and the bucket are, and how to reach AWS.

Read from `OM_*` environment variables by `load_settings` (never at import). Endpoint URLs are for
local emulators; leave them unset on AWS. The explicit access keys exist only so the local stack can
hand the services fixed dummy credentials; on AWS the task role's credentials are used.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class AwsSettings(BaseSettings):
    """Table, bucket, region, endpoints and client tuning shared by the API and the loader."""

    model_config = SettingsConfigDict(env_prefix="OM_", extra="ignore", frozen=True)

    table_name: Annotated[str, Field(min_length=3, max_length=255)] = "order-management"
    bucket_name: Annotated[str, Field(min_length=3, max_length=63)] = "order-management-uploads"
    upload_prefix: str = "uploads/"
    region: str = "us-east-1"
    dynamodb_endpoint_url: str | None = None
    s3_endpoint_url: str | None = None
    aws_access_key_id: str | None = None
    aws_secret_access_key: SecretStr | None = None
    connect_timeout_seconds: Annotated[float, Field(gt=0, le=60)] = 1.0
    read_timeout_seconds: Annotated[float, Field(gt=0, le=300)] = 3.0
    max_attempts: Annotated[int, Field(ge=1, le=20)] = 4
    max_pool_connections: Annotated[int, Field(ge=1, le=1000)] = 50
    max_upload_bytes: Annotated[int, Field(ge=1, le=5 * 1024**3)] = 5 * 1024**3
    metrics_namespace: Annotated[str, Field(min_length=1, max_length=255)] = "OrderManagement"

    @field_validator("upload_prefix")
    @classmethod
    def _prefix_is_a_folder(cls, value: str) -> str:
        value = value.strip("/")
        return f"{value}/" if value else ""

    @field_validator("dynamodb_endpoint_url", "s3_endpoint_url", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        return None if value == "" else value
