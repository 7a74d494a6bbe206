"""`om load-job --bucket B --key K`: the AWS Batch job's command (`Ref::bucket`, `Ref::key`)."""

from __future__ import annotations

import argparse
import logging
import signal
from collections.abc import Sequence

from pydantic import ValidationError

from services.loader.job import EXIT_RETRY, LoadJob
from services.loader.settings import LoaderSettings
from services.logs import configure_logging
from shared.errors import StoreUnavailable
from shared.models import BatchLoad
from shared.repository import make_clients
from shared.repository.load_writer import LoadBatchWriter
from shared.repository.loads import LoadRepository
from shared.repository.uploads import UploadStore

EXIT_USAGE = 2
log = logging.getLogger("om.loader")


def build_job(settings: LoaderSettings) -> LoadJob:
    """The job wired to the table, the bucket and a batch writer sized for its workers."""
    clients = make_clients(settings)

    def sink_for(load: BatchLoad) -> LoadBatchWriter:
        return LoadBatchWriter(
            settings,
            load_id=load.id,
            account=load.account,
            deadline_seconds=settings.write_deadline_seconds,
        )

    return LoadJob(
        loads=LoadRepository(clients.dynamodb, settings.table_name),
        uploads=UploadStore(clients.s3),
        sink_for=sink_for,
        upload_prefix=settings.upload_prefix,
        report_prefix=settings.report_prefix,
        download_dir=settings.download_dir,
        workers=settings.load_workers,
        batch_rows=settings.load_batch_rows,
        max_upload_bytes=settings.max_upload_bytes,
        max_rejected_rows=settings.max_rejected_rows,
        lease_seconds=settings.load_lease_seconds,
        progress_interval=settings.progress_interval_seconds,
        metrics_namespace=settings.metrics_namespace,
    )


def _exit_on_sigterm(signum: int, _: object) -> None:
    log.warning("stopping on SIGTERM; a rerun of this upload completes the load")
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse → run → exit status (0 processed, 1 worth a retry, 2 bad usage or settings)."""
    parser = argparse.ArgumentParser(
        prog="om load-job", description="Load one uploaded orders CSV into the table."
    )
    parser.add_argument("--bucket", required=True, help="bucket of the uploaded object")
    parser.add_argument("--key", required=True, help="key of the uploaded object")
    arguments = parser.parse_args(argv)
    try:
        settings = LoaderSettings()
    except ValidationError as error:
        for problem in error.errors():
            name = ".".join(str(part) for part in problem["loc"])
            parser.exit(EXIT_USAGE, f"error: setting OM_{name.upper()}: {problem['msg']}\n")
    configure_logging(settings.log_level)
    # In a container the loader is PID 1, for which the kernel drops SIGTERM unless a handler is
    # installed: without this, Batch would wait out its stop timeout and SIGKILL. Exiting here
    # runs the job's cleanup; the load stays RUNNING and a rerun finishes it.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        job = build_job(settings)
    except StoreUnavailable as error:
        log.error("cannot start", extra={"reason": str(error)})
        return EXIT_RETRY
    return job.run(arguments.bucket, arguments.key)
