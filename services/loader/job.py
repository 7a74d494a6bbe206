"""The load job: download the upload, stream its rows, write them in parallel, report.

One run handles one uploaded object (`bucket`, `key`), as the S3 → EventBridge → Batch pipeline
(or `om dev`'s local mirror of it) delivers it:

1. The key names the load (`<upload prefix><load id>.csv`); the load goes RUNNING, counts reset.
2. The object is downloaded to ephemeral storage (streamed to disk), then read as a stream:
   memory stays flat whatever the file size.
3. Each row is validated; a bad row becomes a `RowError(line, reason)`, counted and written to a
   report, and every good row is still loaded.
4. Good rows are encoded once as item JSON and partitioned by order id over `load_workers`
   writer threads. Each id always lands in the same partition, whose queue is FIFO and whose
   writer sends one batch at a time, so an id's rows reach the table in file order and the last
   one wins; inside a 25-item batch a later row for an id replaces the earlier one, so no batch
   carries duplicate keys. Queues are bounded: a slow table slows the reader, not memory.
5. The end state is SUCCEEDED with counts, or FAILED with a reason; rejected rows are written to
   `<report prefix><load id>.errors.csv` in the bucket (outside the upload prefix, so the report
   does not trigger another load) and named in the status.

Reruns are safe: S3 → EventBridge delivers at least once and Batch retries. Every item a run
writes is derived from the object alone — time priority from the object's upload time plus the
row's line (file order), the generator id from its ETag, `version` from the upload time in
microseconds (far above any version an API-written order reaches, so a trade holding a stale read
of a replaced order fails its version check) — so a second run, or a run after a crash half-way,
writes the very same items and leaves the same table.

Exit status: 0 when the object was processed to a truthful end state (rejected rows, a file that
is not an orders CSV, or a missing object included: retrying cannot change those); 1 when the
store failed and a retry may succeed.
"""

from __future__ import annotations

import csv
import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol

from services.loader.csv_rows import NotAnOrdersFile, ParsedRow, read_orders
from shared.batch_loads import load_id_from_key
from shared.clock import Clock, format_timestamp, utc_now
from shared.codecs import order_item_json_parts
from shared.errors import LoadNotFound, StoreUnavailable, UploadMissing
from shared.models import LoadCounts, LoadStatus, Order, RowError
from shared.repository.batch_writer import MAX_BATCH_ITEMS
from shared.repository.loads import MAX_STORED_ERRORS, LoadRepository
from shared.repository.uploads import UploadedObject, UploadStore

log = logging.getLogger("om.loader")

EXIT_DONE = 0
EXIT_RETRY = 1


class ItemWriter(Protocol):
    """Writes up to 25 pre-encoded items with distinct keys (see `BatchWriter`)."""

    def write(self, items_json: Sequence[str]) -> None: ...


class LoadedOrderEncoder:
    """Item JSON for a loaded row, derived only from the upload and the row (reruns match)."""

    def __init__(self, upload: UploadedObject) -> None:
        seconds = int(upload.last_modified.timestamp())
        self._base_ns = seconds * 1_000_000_000
        hex_digits = "".join(c for c in upload.etag.lower() if c in "0123456789abcdef")
        self._generator_id = (hex_digits + "00000000")[:8]
        self._version = seconds * 1_000_000
        self._at = upload.last_modified
        self._at_text = format_timestamp(upload.last_modified)

    def encode(self, row: ParsedRow) -> str:
        """The item JSON of a valid row; `row.line` orders it within its price level."""
        draft = row.draft
        order = Order(
            id=draft.id,
            symbol=draft.symbol,
            side=draft.side,
            amount=draft.amount,
            price=draft.price,
            sequence=f"{self._base_ns + row.line:019d}.{self._generator_id}",
            version=self._version,
            created_at=self._at,
            updated_at=self._at,
        )
        return order_item_json_parts(order, created_text=self._at_text, updated_text=self._at_text)


@dataclass
class PartitionedWriter:
    """Routes items to per-partition writer threads: FIFO per order id, distinct keys per batch."""

    writer: ItemWriter
    partitions: int
    queue_batches: int = 4
    written_rows: int = 0
    failure: BaseException | None = None
    _pending: list[dict[int, str]] = field(default_factory=list)
    _pending_rows: list[int] = field(default_factory=list)
    _queues: list[queue.Queue[tuple[list[str], int] | None]] = field(default_factory=list)
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        for index in range(self.partitions):
            self._pending.append({})
            self._pending_rows.append(0)
            work: queue.Queue[tuple[list[str], int] | None] = queue.Queue(self.queue_batches)
            self._queues.append(work)
            thread = threading.Thread(
                target=self._drain, args=(work,), name=f"writer-{index}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def add(self, order_id: int, item_json: str) -> None:
        """Queue one row's item; a later row for the same id replaces it in the pending batch."""
        partition = order_id % self.partitions
        batch = self._pending[partition]
        batch.pop(order_id, None)  # keep file order of the last writes within the batch
        batch[order_id] = item_json
        self._pending_rows[partition] += 1
        if len(batch) == MAX_BATCH_ITEMS:
            self._flush(partition)

    def abandon(self) -> None:
        """Stop without waiting (the process is exiting): writers skip what is still queued."""
        with self._lock:
            if self.failure is None:
                self.failure = RuntimeError("abandoned")

    def close(self) -> None:
        """Send what is pending, wait for every writer; raise the first write failure."""
        for partition in range(self.partitions):
            if self._pending[partition]:
                self._flush(partition)
            self._queues[partition].put(None)
        for thread in self._threads:
            thread.join()
        if self.failure is not None:
            raise self.failure

    def _flush(self, partition: int) -> None:
        batch, rows = list(self._pending[partition].values()), self._pending_rows[partition]
        self._pending[partition] = {}
        self._pending_rows[partition] = 0
        self._queues[partition].put((batch, rows))

    def _drain(self, work: queue.Queue[tuple[list[str], int] | None]) -> None:
        while (task := work.get()) is not None:
            if self.failure is not None:
                continue  # keep draining so the reader never blocks on a full queue
            items, rows = task
            try:
                self.writer.write(items)
            except BaseException as error:
                with self._lock:
                    if self.failure is None:  # the first failure explains the run
                        self.failure = error
                continue
            with self._lock:
                self.written_rows += rows


@dataclass
class LoadJob:
    """One run of the loader over one uploaded object."""

    loads: LoadRepository
    uploads: UploadStore
    writer: ItemWriter
    upload_prefix: str
    report_prefix: str
    download_dir: Path
    workers: int = 16
    progress_interval: float = 2.0
    clock: Clock = utc_now
    monotonic: Callable[[], float] = time.monotonic

    def run(self, bucket: str, key: str) -> int:
        """Load `s3://bucket/key`; returns the process exit status."""
        load_id = load_id_from_key(self.upload_prefix, key)
        if load_id is None:
            log.warning("ignored: not an upload of this service", extra={"key": key})
            return EXIT_DONE
        try:
            self.loads.start(load_id, self.clock())
        except LoadNotFound:
            log.warning("ignored: no such load", extra={"load_id": load_id})
            return EXIT_DONE
        except StoreUnavailable as error:
            log.error("store unavailable", extra={"load_id": load_id, "reason": str(error)})
            return EXIT_RETRY
        log.info("load started", extra={"load_id": load_id, "bucket": bucket, "key": key})
        run = _Run(self, load_id, bucket, key)
        return run.execute()


class _Run:
    """State of one load run: counts, the first errors, the report file."""

    def __init__(self, job: LoadJob, load_id: str, bucket: str, key: str) -> None:
        self.job = job
        self.load_id = load_id
        self.bucket = bucket
        self.key = key
        self.read = 0
        self.rejected = 0
        self.first_errors: list[RowError] = []
        self.report_path = job.download_dir / f"{load_id}-{uuid.uuid4().hex[:8]}.errors.csv"
        self.partitions: PartitionedWriter | None = None

    def counts(self) -> LoadCounts:
        written = self.partitions.written_rows if self.partitions else 0
        return LoadCounts(read=self.read, loaded=written, rejected=self.rejected)

    def execute(self) -> int:
        download = self.job.download_dir / f"{self.load_id}-{uuid.uuid4().hex[:8]}.csv"
        try:
            upload = self.job.uploads.describe(self.bucket, self.key)
            self.job.download_dir.mkdir(parents=True, exist_ok=True)
            self.job.uploads.download(upload, download)
            self._load(upload, download)
        except UploadMissing as error:
            return self._fail(f"the uploaded file is missing: {error}", EXIT_DONE)
        except NotAnOrdersFile as error:
            return self._fail(f"not an orders CSV: {error}", EXIT_DONE)
        except UnicodeDecodeError:
            # Text is decoded in chunks, so the position is that of the chunk, not the byte.
            reason = f"not UTF-8 text: an invalid byte after line {self.read + 1}"
            return self._fail(reason, EXIT_DONE)
        except StoreUnavailable as error:
            return self._fail(f"the order store is unavailable; will retry: {error}", EXIT_RETRY)
        except Exception as error:
            log.exception("load crashed", extra={"load_id": self.load_id})
            return self._fail(f"internal error ({type(error).__name__})", EXIT_RETRY)
        finally:
            download.unlink(missing_ok=True)
            self.report_path.unlink(missing_ok=True)
        return EXIT_DONE

    def _load(self, upload: UploadedObject, path: Path) -> None:
        encoder = LoadedOrderEncoder(upload)
        self.partitions = PartitionedWriter(self.job.writer, self.job.workers)
        next_progress = self.job.monotonic() + self.job.progress_interval
        with (
            path.open(encoding="utf-8-sig", newline="") as source,
            self.report_path.open("w", encoding="utf-8", newline="") as report_file,
        ):
            report = csv.writer(report_file)
            report.writerow(["line", "reason"])
            try:
                for row in read_orders(source):
                    self.read += 1
                    if isinstance(row, RowError):
                        self._reject(row, report)
                    else:
                        self.partitions.add(row.draft.id, encoder.encode(row))
                    if self.read % 1024 == 0:
                        if self.partitions.failure is not None:
                            break
                        if self.job.monotonic() >= next_progress:
                            self.job.loads.record_progress(self.load_id, self.counts())
                            next_progress = self.job.monotonic() + self.job.progress_interval
            except BaseException:
                # Exiting (SIGTERM) or failing: do not wait out retries of queued batches; a
                # rerun writes the same items.
                self.partitions.abandon()
                raise
            self.partitions.close()
        report_key = self._publish_report()
        self.job.loads.finish(
            self.load_id,
            status=LoadStatus.SUCCEEDED,
            at=self.job.clock(),
            counts=self.counts(),
            errors=tuple(self.first_errors),
            error_report_key=report_key,
        )
        log.info("load succeeded", extra={"load_id": self.load_id, **asdict(self.counts())})

    def _reject(self, error: RowError, report: _CsvWriter) -> None:
        self.rejected += 1
        if len(self.first_errors) < MAX_STORED_ERRORS:
            self.first_errors.append(error)
        report.writerow([error.line, error.reason])

    def _publish_report(self) -> str | None:
        if self.rejected == 0:
            return None
        report_key = f"{self.job.report_prefix}{self.load_id}.errors.csv"
        self.job.uploads.put_file(self.bucket, report_key, self.report_path, "text/csv")
        return report_key

    def _fail(self, reason: str, exit_status: int) -> int:
        log.error("load failed", extra={"load_id": self.load_id, "reason": reason})
        try:
            self.job.loads.finish(
                self.load_id,
                status=LoadStatus.FAILED,
                at=self.job.clock(),
                counts=self.counts(),
                errors=tuple(self.first_errors),
                reason=reason,
            )
        except StoreUnavailable:
            return EXIT_RETRY
        return exit_status


class _CsvWriter(Protocol):
    def writerow(self, row: Sequence[object], /) -> object: ...
