"""What `om dev` can be asked for: the engine, the listening ports, the data folder."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

LOOPBACK = "127.0.0.1"
DEFAULT_DATA_DIR = Path(".om/dev/dynamodb")


class Engine(StrEnum):
    """Which engine serves DynamoDB."""

    AUTO = "auto"
    DYNAMODB_LOCAL = "dynamodb-local"
    MOTO = "moto"


@dataclass(frozen=True, slots=True)
class DevOptions:
    """What `om dev` was asked for."""

    engine: Engine = Engine.AUTO
    host: str = LOOPBACK
    port: int = 8080
    dynamodb_port: int = 8000
    s3_port: int = 5000
    data_dir: Path = DEFAULT_DATA_DIR
    fresh: bool = False
    api_key: str | None = field(default=None, repr=False)  # None: see `dev_key`

    @property
    def dynamodb_endpoint_url(self) -> str:
        """The local DynamoDB endpoint."""
        return f"http://{LOOPBACK}:{self.dynamodb_port}"

    @property
    def s3_endpoint_url(self) -> str:
        """The local S3 endpoint."""
        return f"http://{LOOPBACK}:{self.s3_port}"
