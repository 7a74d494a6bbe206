"""Settings of the loader job (`OM_*` environment variables)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from shared.repository.load_writer import MAX_BATCH_ROWS
from shared.settings import AwsSettings


class LoaderSettings(AwsSettings):
    """What `om load-job` reads: the shared AWS settings plus how to load."""

    download_dir: Path = Path(tempfile.gettempdir())
    report_prefix: str = "reports/"
    load_workers: Annotated[int, Field(ge=1, le=256)] = 16
    load_batch_rows: Annotated[int, Field(ge=1, le=MAX_BATCH_ROWS)] = MAX_BATCH_ROWS
    load_lease_seconds: Annotated[float, Field(ge=1, le=3600)] = 60.0
    max_rejected_rows: Annotated[int, Field(ge=0)] = 100_000
    progress_interval_seconds: Annotated[float, Field(gt=0, le=300)] = 2.0
    write_deadline_seconds: Annotated[float, Field(gt=0, le=3600)] = 300.0
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @field_validator("report_prefix")
    @classmethod
    def _report_prefix_is_a_folder(cls, value: str) -> str:
        value = value.strip("/")
        return f"{value}/" if value else ""

    @model_validator(mode="after")
    def _lease_outlives_heartbeats(self) -> LoaderSettings:
        # The lease is renewed every progress interval: it must survive a missed renewal or two.
        if self.load_lease_seconds < 3 * self.progress_interval_seconds:
            raise ValueError(
                "OM_LOAD_LEASE_SECONDS must be at least 3 x OM_PROGRESS_INTERVAL_SECONDS"
            )
        return self
