"""The load job: take the load, download the upload, stream its rows, write them in batches, report.

One run handles one uploaded object (`bucket`, `key`), as the S3 → EventBridge → Batch pipeline
(or `om dev`'s local mirror of it) delivers it — at least once, so runs are built to repeat:

1. The key names the load (`<upload prefix><load id>.csv`). The run takes the load's **lease**
   (`LoadRepository.start`): a load that SUCCEEDED is left as it is (exit 0); while another live
   run holds the lease this run waits for it to end or expire, and leaves the load to it if it
   stays alive. A heartbeat thread renews the lease with the counts so far.
2. The object's size is checked against `OM_MAX_UPLOAD_BYTES` before a byte is read, and the
   load's **plan** is pinned (`LoadRepository.pin`): the object's ETag and how rows are cut into
   batches. A rerun reads only that object (a second PUT to the URL is refused, `UploadReplaced`)
   and cuts the same batches.
3. The object is downloaded to ephemeral storage (streamed, `If-Match` its ETag), then read as a
   stream: memory stays flat whatever the file size. Each row is validated; a bad row becomes a
   `RowError(line, reason)`, counted and written to a report, and every good row is still loaded.
   More than `OM_MAX_REJECTED_ROWS` rejected rows end the load FAILED.
4. Good rows are encoded once as item JSON and cut into batches by order id: `partitions` fixed
   partitions (id modulo), each filled up to `batch_rows` distinct ids (or 1,000 file rows) in
   file order, a later row for an id replacing the earlier one in the batch. A partition's
   batches go, in order, to one writer thread (FIFO), so an id's rows reach the table in file
   order and the last one wins.
   Each batch is one transaction with its marker (`LoadBatchWriter`): applied whole, once, ever —
   a rerun skips the batches an earlier run committed and takes their counts from the markers,
   so it never overwrites an order traded, amended or deleted after this load wrote it.
5. The end state is SUCCEEDED with counts, or FAILED with a reason; rejected rows (including rows
   whose order id belongs to another account) are written to `<report prefix><load id>.errors.csv`
   in the bucket (outside the upload prefix, so the report does not trigger another load).

Exit status: 0 when the object was processed to a truthful end state (rejected rows, a file that
is not an orders CSV, a missing or replaced object included: retrying cannot change those), or when
another run has the load; 1 when the store failed and a retry may succeed.
"""

from __future__ import annotations

import contextlib
import csv
import heapq
import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol

from services.loader.csv_rows import NotAnOrdersFile, read_encoded_orders
from services.loader.encoding import LoadedOrderEncoder
from services.metrics import (
    LOADER_SERVICE,
    LOADS_FAILED,
    LOADS_SUCCEEDED,
    ROWS_LOADED,
    ROWS_PER_SECOND,
    ROWS_READ,
    ROWS_REJECTED,
    STORE_RETRIES,
    Metric,
)
from services.metrics.emf import emf_document
from shared.batch_loads import load_id_from_key
from shared.clock import Clock, utc_now
from shared.errors import (
    LoadFinished,
    LoadLeaseHeld,
    LoadLeaseLost,
    LoadNotFound,
    StoreUnavailable,
    UploadMissing,
    UploadReplaced,
)
from shared.models import BatchLoad, LoadCounts, LoadPlan, LoadStatus, RowError
from shared.repository.load_writer import (
    MAX_BATCH_LINES,
    MAX_BATCH_ROWS,
    BatchResult,
    BatchRow,
    LoadBatch,
)
from shared.repository.loads import MAX_STORED_ERRORS, LoadRepository
from shared.repository.uploads import UploadedObject, UploadStore

log = logging.getLogger("om.loader")

EXIT_DONE = 0
EXIT_RETRY = 1
PARTITIONS = 64
"""Batches are cut per order id modulo this; pinned per load, so changing it never splits one."""


class BatchSink(Protocol):
    """Applies one batch of a load exactly once (see `LoadBatchWriter`)."""

    retries: int
    """Requests sent again so far (throttling, conflicts, lost connections)."""

    def write(self, batch: LoadBatch) -> BatchResult: ...


class TooManyRejectedRows(Exception):
    """More rows were rejected than `OM_MAX_REJECTED_ROWS` allows."""


@dataclass
class _Pending:
    """A partition's batch being filled: order id → its row, in the order of their last lines."""

    number: int = 0
    rows: dict[int, BatchRow] = field(default_factory=dict)
    lines: int = 0


class _Abandoned(RuntimeError):
    """The run stopped (exiting, failing) with batches still queued."""


@dataclass
class PartitionedWriter:
    """Cuts rows into the plan's batches and feeds each partition's batches, in order, to one
    writer thread."""

    sink: BatchSink
    plan: LoadPlan
    workers: int
    queue_batches: int = 4
    loaded_rows: int = 0
    batches_written: int = 0
    batches_written_before: int = 0
    rejected: list[RowError] = field(default_factory=list)
    failure: BaseException | None = None
    _pending: list[_Pending] = field(default_factory=list)
    _queues: list[queue.Queue[LoadBatch | None]] = field(default_factory=list)
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _abandoned: bool = False

    def __post_init__(self) -> None:
        self._pending = [_Pending() for _ in range(self.plan.partitions)]
        for index in range(min(self.workers, self.plan.partitions)):
            work: queue.Queue[LoadBatch | None] = queue.Queue(self.queue_batches)
            self._queues.append(work)
            thread = threading.Thread(
                target=self._drain, args=(work,), name=f"writer-{index}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    @property
    def rejected_count(self) -> int:
        return len(self.rejected)

    def add(self, order_id: int, item_json: str, line: int) -> None:
        """Queue one row's item; a later row for the same id replaces it in the pending batch."""
        partition = order_id % self.plan.partitions
        pending = self._pending[partition]
        rows = pending.rows
        earlier = rows.pop(order_id, None)  # keep file order of the last writes
        lines = (line,) if earlier is None else (*earlier.lines, line)
        rows[order_id] = BatchRow(order_id, item_json, lines)
        pending.lines += 1
        if len(rows) == self.plan.batch_rows or pending.lines == MAX_BATCH_LINES:
            self._flush(partition)

    def abandon(self) -> None:
        """Stop without waiting (the process is exiting): writers skip what is still queued and
        end; one still inside a write ends after it."""
        with self._lock:
            self._abandoned = True
            if self.failure is None:
                self.failure = _Abandoned("abandoned with batches unwritten")
        for work in self._queues:
            # Wakes a writer waiting on an empty queue; a full queue's writer is busy and ends
            # when it finds the queue empty (see `_drain`).
            with contextlib.suppress(queue.Full):
                work.put_nowait(None)

    def close(self) -> None:
        """Send what is pending, wait for every writer; raise the first write failure."""
        if self._abandoned:  # the writers are ending: nothing more is sent
            assert self.failure is not None
            raise self.failure
        for partition, pending in enumerate(self._pending):
            if pending.rows:
                self._flush(partition)
        for work in self._queues:
            work.put(None)
        for thread in self._threads:
            thread.join()
        if self.failure is not None:
            raise self.failure

    def _flush(self, partition: int) -> None:
        pending = self._pending[partition]
        batch = LoadBatch(partition=partition, number=pending.number, rows=[*pending.rows.values()])
        self._pending[partition] = _Pending(number=pending.number + 1)
        self._queues[partition % len(self._queues)].put(batch)

    def _drain(self, work: queue.Queue[LoadBatch | None]) -> None:
        while (batch := work.get()) is not None:
            if self.failure is not None:
                if self._abandoned and work.empty():
                    return  # nothing more will come
                continue  # keep draining so the reader never blocks on a full queue
            try:
                result = self.sink.write(batch)
            except BaseException as error:
                with self._lock:
                    if self.failure is None:  # the first failure explains the run
                        self.failure = error
                continue
            with self._lock:
                self.loaded_rows += result.loaded
                self.rejected += result.rejected
                if result.written_before:
                    self.batches_written_before += 1
                else:
                    self.batches_written += 1


@dataclass
class LoadJob:
    """One run of the loader over one uploaded object."""

    loads: LoadRepository
    uploads: UploadStore
    sink_for: Callable[[BatchLoad], BatchSink]
    upload_prefix: str
    report_prefix: str
    download_dir: Path
    workers: int = 16
    batch_rows: int = MAX_BATCH_ROWS
    max_upload_bytes: int = 5 * 1024**3
    max_rejected_rows: int = 100_000
    lease_seconds: float = 60.0
    progress_interval: float = 2.0
    metrics_namespace: str = "OrderManagement"
    clock: Clock = utc_now
    monotonic: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep

    def run(self, bucket: str, key: str) -> int:
        """Load `s3://bucket/key`; returns the process exit status."""
        load_id = load_id_from_key(self.upload_prefix, key)
        if load_id is None:
            log.warning("ignored: not an upload of this service", extra={"key": key})
            return EXIT_DONE
        owner = uuid.uuid4().hex
        try:
            load = self._take(load_id, owner)
        except LoadNotFound:
            log.warning("ignored: no such load", extra={"load_id": load_id})
            return EXIT_DONE
        except LoadFinished:
            log.info("ignored: the load has already succeeded", extra={"load_id": load_id})
            return EXIT_DONE
        except StoreUnavailable as error:
            log.error("store unavailable", extra={"load_id": load_id, "reason": str(error)})
            return EXIT_RETRY
        if load is None:
            log.info("another live run has the load; leaving it", extra={"load_id": load_id})
            return EXIT_DONE
        log.info("load started", extra={"load_id": load_id, "bucket": bucket, "key": key})
        return _Run(self, load, owner, bucket, key).execute()

    def _take(self, load_id: str, owner: str) -> BatchLoad | None:
        """Start the load under `owner`'s lease, waiting out a run that died; None while another
        run keeps its lease alive for longer than a lease."""
        give_up = self.monotonic() + 2 * self.lease_seconds
        while True:
            try:
                return self.loads.start(
                    load_id, self.clock(), owner=owner, lease_seconds=self.lease_seconds
                )
            except LoadLeaseHeld as held:
                wait = held.until - self.clock().timestamp() + 0.5
                if self.monotonic() + max(wait, 0) > give_up:
                    return None
                self.sleep(min(max(wait, 0.1), self.progress_interval))


class _Heartbeat:
    """Renews the run's lease with its counts every `interval` seconds, in a thread of its own
    (the reader may be blocked on a full queue for longer than a lease while the table is slow)."""

    def __init__(self, run: _Run) -> None:
        self._run = run
        self._stop = threading.Event()
        self.lost = False
        self._thread = threading.Thread(target=self._beat, name="lease", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _beat(self) -> None:
        job = self._run.job
        while not self._stop.wait(job.progress_interval):
            try:
                job.loads.renew(
                    self._run.load.id,
                    owner=self._run.owner,
                    at=job.clock(),
                    lease_seconds=job.lease_seconds,
                    counts=self._run.counts(),
                )
            except LoadLeaseLost:
                self.lost = True
                return
            except StoreUnavailable as error:  # the next beat tries again; the lease has slack
                log.warning("could not renew the lease", extra={"reason": str(error)})


class _Run:
    """State of one load run: counts, the first errors, the report file."""

    def __init__(self, job: LoadJob, load: BatchLoad, owner: str, bucket: str, key: str) -> None:
        self.job = job
        self.load = load
        self.owner = owner
        self.bucket = bucket
        self.key = key
        self.read = 0
        self.invalid = 0
        self.first_errors: list[RowError] = []
        self.report_path = job.download_dir / f"{load.id}-{uuid.uuid4().hex[:8]}.errors.csv"
        self.partitions: PartitionedWriter | None = None
        self.started = job.monotonic()

    def counts(self) -> LoadCounts:
        written = self.partitions.loaded_rows if self.partitions else 0
        owned = self.partitions.rejected_count if self.partitions else 0
        return LoadCounts(read=self.read, loaded=written, rejected=self.invalid + owned)

    def execute(self) -> int:
        download = self.job.download_dir / f"{self.load.id}-{uuid.uuid4().hex[:8]}.csv"
        heartbeat = _Heartbeat(self)
        try:
            upload = self.job.uploads.describe(self.bucket, self.key)
            if upload.size > self.job.max_upload_bytes:
                reason = (
                    f"the upload is {upload.size:,} bytes, more than OM_MAX_UPLOAD_BYTES"
                    f" ({self.job.max_upload_bytes:,}); it was not read"
                )
                return self._fail(reason, EXIT_DONE)
            plan = self.job.loads.pin(
                self.load.id,
                owner=self.owner,
                plan=LoadPlan(upload.etag, PARTITIONS, self.job.batch_rows),
            )
            self.job.download_dir.mkdir(parents=True, exist_ok=True)
            self.job.uploads.download(upload, download)
            self._load(upload, plan, download, heartbeat)
        except LoadLeaseLost:
            log.warning("another run took the load over; stopping", extra={"load_id": self.load.id})
            return EXIT_DONE
        except UploadMissing as error:
            return self._fail(f"the uploaded file is missing: {error}", EXIT_DONE)
        except UploadReplaced as error:
            return self._fail(str(error), EXIT_DONE)
        except NotAnOrdersFile as error:
            return self._fail(f"not an orders CSV: {error}", EXIT_DONE)
        except TooManyRejectedRows:
            reason = (
                f"too many rejected rows: more than OM_MAX_REJECTED_ROWS"
                f" ({self.job.max_rejected_rows:,}); the first are listed, all in the report"
            )
            return self._fail(reason, EXIT_DONE, report=True)
        except UnicodeDecodeError:
            # Text is decoded in chunks, so the position is that of the chunk, not the byte.
            reason = f"not UTF-8 text: an invalid byte after line {self.read + 1}"
            return self._fail(reason, EXIT_DONE)
        except StoreUnavailable as error:
            return self._fail(
                f"the table or the bucket is unavailable; will retry: {error}", EXIT_RETRY
            )
        except Exception as error:
            log.exception("load crashed", extra={"load_id": self.load.id})
            return self._fail(f"internal error ({type(error).__name__})", EXIT_RETRY)
        except BaseException:
            # SIGTERM (SystemExit) or Ctrl-C: give the lease up so a rerun need not wait it out.
            heartbeat.stop()
            self._release()
            raise
        finally:
            heartbeat.stop()
            download.unlink(missing_ok=True)
            self.report_path.unlink(missing_ok=True)
        return EXIT_DONE

    def _load(
        self, upload: UploadedObject, plan: LoadPlan, path: Path, heartbeat: _Heartbeat
    ) -> None:
        encoder = LoadedOrderEncoder(upload, self.load)
        self.partitions = PartitionedWriter(self.job.sink_for(self.load), plan, self.job.workers)
        with (
            path.open(encoding="utf-8-sig", newline="") as source,
            self.report_path.open("w", encoding="utf-8", newline="") as report_file,
        ):
            report = csv.writer(report_file)
            report.writerow(["line", "reason"])
            add = self.partitions.add
            try:
                for row in read_encoded_orders(source, encoder.fast_rows):
                    self.read += 1
                    if isinstance(row, tuple):  # a plain line the fast path encoded
                        add(*row)
                    elif isinstance(row, RowError):
                        self._reject(row, report)
                    else:
                        add(row.draft.id, encoder.encode(row), row.line)
                    if self.read % 1024 == 0:
                        self._check(heartbeat)
            except BaseException:
                # Exiting (SIGTERM), failing or stopping: do not wait out retries of queued
                # batches; a rerun skips what was committed and writes the rest.
                self.partitions.abandon()
                raise
            self.partitions.close()
        self._check(heartbeat)
        report_key = self._publish_report()
        done = self.job.loads.finish(
            self.load.id,
            owner=self.owner,
            status=LoadStatus.SUCCEEDED,
            at=self.job.clock(),
            counts=self.counts(),
            errors=self._first_errors(),
            error_report_key=report_key,
        )
        self._emit_metrics(LoadStatus.SUCCEEDED)
        details = asdict(done.counts) | {
            "batches_written": self.partitions.batches_written,
            "batches_written_before": self.partitions.batches_written_before,
        }
        log.info("load succeeded", extra={"load_id": self.load.id, **details})

    def _check(self, heartbeat: _Heartbeat) -> None:
        """Stop early: the lease was lost, a writer failed, or too many rows were rejected."""
        if heartbeat.lost:
            raise LoadLeaseLost(self.load.id)
        assert self.partitions is not None
        if self.partitions.failure is not None:
            raise self.partitions.failure
        if self.invalid + self.partitions.rejected_count > self.job.max_rejected_rows:
            raise TooManyRejectedRows

    def _reject(self, error: RowError, report: _CsvWriter) -> None:
        self.invalid += 1
        if len(self.first_errors) < MAX_STORED_ERRORS:
            self.first_errors.append(error)
        report.writerow([error.line, error.reason])

    def _owned_elsewhere(self) -> list[RowError]:
        return sorted(self.partitions.rejected, key=lambda e: e.line) if self.partitions else []

    def _first_errors(self) -> tuple[RowError, ...]:
        """The first rejected rows by line: invalid ones and ones owned by another account."""
        merged = heapq.merge(self.first_errors, self._owned_elsewhere(), key=lambda e: e.line)
        return tuple(error for _, error in zip(range(MAX_STORED_ERRORS), merged, strict=False))

    def _publish_report(self) -> str | None:
        """Upload every rejected row, by line, to the report key; None when there are none."""
        if self.counts().rejected == 0:
            return None
        report_key = f"{self.job.report_prefix}{self.load.id}.errors.csv"
        owned = self._owned_elsewhere()
        path = self.report_path
        if owned:  # merge the writers' rejections into the reader's report, in line order
            path = self.report_path.with_suffix(".merged.csv")
            with (
                self.report_path.open(encoding="utf-8", newline="") as invalid_file,
                path.open("w", encoding="utf-8", newline="") as merged_file,
            ):
                invalid = csv.reader(invalid_file)
                next(invalid, None)
                merged = csv.writer(merged_file)
                merged.writerow(["line", "reason"])
                rows = ((int(fields[0]), fields[1]) for fields in invalid)
                owned_rows = ((e.line, e.reason) for e in owned)
                in_order: Iterator[tuple[int, str]] = heapq.merge(rows, owned_rows)
                merged.writerows(in_order)
        try:
            self.job.uploads.put_file(self.bucket, report_key, path, "text/csv")
        finally:
            if path != self.report_path:
                path.unlink(missing_ok=True)
        return report_key

    def _fail(self, reason: str, exit_status: int, *, report: bool = False) -> int:
        log.error("load failed", extra={"load_id": self.load.id, "reason": reason})
        try:
            report_key = self._publish_report() if report else None
            self.job.loads.finish(
                self.load.id,
                owner=self.owner,
                status=LoadStatus.FAILED,
                at=self.job.clock(),
                counts=self.counts(),
                errors=self._first_errors(),
                reason=reason,
                error_report_key=report_key,
            )
        except LoadLeaseLost:
            return EXIT_DONE  # another run has the load and will end it
        except StoreUnavailable:
            return EXIT_RETRY
        self._emit_metrics(LoadStatus.FAILED)
        return exit_status

    def _release(self) -> None:
        with contextlib.suppress(StoreUnavailable):  # else the lease runs out on its own
            self.job.loads.release(self.load.id, owner=self.owner)

    def _emit_metrics(self, status: LoadStatus) -> None:
        """One Embedded Metric Format line per run (see `services.metrics`)."""
        counts = self.counts()
        seconds = max(self.job.monotonic() - self.started, 1e-6)
        sink = self.partitions.sink if self.partitions else None
        values: dict[Metric, float] = {
            ROWS_READ: counts.read,
            ROWS_LOADED: counts.loaded,
            ROWS_REJECTED: counts.rejected,
            ROWS_PER_SECOND: round(counts.read / seconds, 1),
            LOADS_SUCCEEDED: int(status is LoadStatus.SUCCEEDED),
            LOADS_FAILED: int(status is LoadStatus.FAILED),
            STORE_RETRIES: sink.retries if sink is not None else 0,
        }
        document = emf_document(
            self.job.metrics_namespace,
            LOADER_SERVICE,
            values,
            int(time.time() * 1000),
            loadId=self.load.id,
            outcome=str(status),
        )
        log.info("load metrics", extra=document)


class _CsvWriter(Protocol):
    def writerow(self, row: Sequence[object], /) -> object: ...
