"""One JSON object per log line, for CloudWatch Logs Insights and for humans with `jq`.

Lines are written by a thread of their own (`LogWriter`), not by the code that logs. The API logs
a line per request from its event loop; formatting that line and writing it to stderr (a system
call, and on a busy host a slow one) would otherwise be done on the loop, in every other
request's way. The logging call only hands the record to a queue; every `FLUSH_SECONDS` the
writer formats whatever has queued up and writes it in one call (waking per record would cost a
hand-off of the GIL per line, which is what this avoids). What is queued is written before the
process ends: at exit (`logging.shutdown`, which the interpreter runs then, flushes and closes
every handler), and before a SIGTERM with the default disposition ends it —
uvicorn re-raises SIGTERM after its graceful shutdown so that a supervisor sees the conventional
status, and the default disposition would end the process without running `atexit`. A SIGKILL
loses at most the last `FLUSH_SECONDS` of lines. A record logged after the writer has stopped is
written at once.
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import signal
import sys
import threading
from datetime import UTC, datetime
from typing import TextIO

_STANDARD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
    "color_message",  # uvicorn's copy of the message with ANSI colours
}


EMF_KEY = "_aws"
"""The one underscore member kept: CloudWatch reads a line with it as Embedded Metric Format."""

FLUSH_SECONDS = 0.05
"""How long a line may wait in the queue: at most this much of the log is lost to a SIGKILL."""
MAX_QUEUED = 10_000
"""Lines that may wait for the writer; beyond it, the logging thread writes them itself."""
# How long, at exit, the writer may take to write what is still queued.
_EXIT_FLUSH_SECONDS = 5.0


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON line; `extra=` fields become top-level keys."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name, value in vars(record).items():
            if name not in _STANDARD_ATTRIBUTES and (not name.startswith("_") or name == EMF_KEY):
                entry[name] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, default=str, separators=(",", ":"))


class LogWriter(logging.Handler):
    """Queues records for a writer thread, which formats them and writes each batch at once.

    The queue is bounded: with `max_queued` lines waiting (stderr blocked, say), the logging
    thread writes them itself, as an unqueued handler would, rather than grow without bound or
    drop any. Batches are drained and written under one lock, so lines keep their order.
    """

    def __init__(
        self,
        stream: TextIO,
        formatter: logging.Formatter,
        *,
        flush_seconds: float = FLUSH_SECONDS,
        max_queued: int = MAX_QUEUED,
    ) -> None:
        super().__init__()
        self.setFormatter(formatter)
        self._formatter = formatter
        self._stream = stream
        self._flush_seconds = flush_seconds
        self._max_queued = max_queued
        self._queue: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
        # Re-entrant: a SIGTERM handler (`_write_log_then_die`) may interrupt a flush and flush.
        self._writing = threading.RLock()
        self._stopping = threading.Event()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="om-log-writer", daemon=True)
        self._thread.start()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            # What the record refers to may change once the caller goes on: fix its text now (a
            # cheap %-format) and the traceback's (rare); the JSON is left to the writer.
            record.msg = record.getMessage()
            record.args = None
            if record.exc_info:
                record.exc_text = self._formatter.formatException(record.exc_info)
                record.exc_info = None
        except Exception:
            self.handleError(record)
            return
        self._queue.put(record)
        if self._stopped or self._queue.qsize() >= self._max_queued:
            self.flush()

    def stop(self) -> None:
        """Write what is queued and stop the thread; later records are written at once."""
        self.acquire()  # the lock `emit` runs under: no record is half-way through it
        try:
            if self._stopped:
                return
            self._stopped = True
        finally:
            self.release()
        self._stopping.set()
        self._thread.join(_EXIT_FLUSH_SECONDS)
        self.flush()  # a record queued as the writer stopped

    def close(self) -> None:
        """`logging.shutdown` (at exit) and replacing the handler stop the writer first."""
        self.stop()
        super().close()

    def flush(self) -> None:
        """Write what is queued now, on the calling thread."""
        with self._writing:
            records = []
            with contextlib.suppress(queue.Empty):
                while True:
                    records.append(self._queue.get_nowait())
            if records:
                self._write(records)

    def _run(self) -> None:
        while not self._stopping.wait(self._flush_seconds):
            self.flush()
        self.flush()

    def _write(self, records: list[logging.LogRecord]) -> None:
        lines = []
        for record in records:
            try:
                lines.append(self.format(record))
            except Exception:  # a record that cannot be formatted must not stop the writer
                self.handleError(record)
        try:
            self._stream.write("".join(f"{line}\n" for line in lines))
            self._stream.flush()
        except Exception:
            self.handleError(records[-1])


def _write_log_then_die(signum: int, _: object) -> None:
    """The default disposition of `signum`, after writing what is queued."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler, LogWriter):
            handler.stop()
    signal.signal(signum, signal.SIG_DFL)
    signal.raise_signal(signum)


def configure_logging(level: str) -> None:
    """Send every logger's records to stderr as JSON lines at `level`, written off-thread."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler, LogWriter):
            handler.close()  # configured again (tests): the old writer's lines first
    writer = LogWriter(sys.stderr, JsonFormatter())
    if (
        threading.current_thread() is threading.main_thread()
        and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    ):
        signal.signal(signal.SIGTERM, _write_log_then_die)
    root = logging.getLogger()
    root.handlers[:] = [writer]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    logging.getLogger("uvicorn.access").disabled = True
    logging.getLogger("botocore").setLevel(max(root.level, logging.WARNING))
