"""The JSON log lines and the thread that writes them (`services.logs`)."""

from __future__ import annotations

import io
import json
import logging
import signal
import subprocess
import sys
import threading

import pytest

from services.logs import FLUSH_SECONDS, JsonFormatter, LogWriter


class CountingStream(io.StringIO):
    """A stream that counts its `write` calls and notes which thread made them."""

    def __init__(self) -> None:
        super().__init__()
        self.writes = 0
        self.writers: set[str] = set()

    def write(self, text: str) -> int:
        self.writes += 1
        self.writers.add(threading.current_thread().name)
        return super().write(text)


@pytest.fixture
def logger() -> logging.Logger:
    logger = logging.getLogger("om.test.logs")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger


def lines_of(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_records_are_written_by_the_writer_thread_in_batches_and_in_order(
    logger: logging.Logger,
) -> None:
    stream = CountingStream()
    writer = LogWriter(stream, JsonFormatter())
    logger.addHandler(writer)
    try:
        for number in range(500):
            logger.info("request %d", number, extra={"status": 200, "path": "/api/trade"})
    finally:
        logger.removeHandler(writer)
        writer.close()
    lines = lines_of(stream)
    assert [line["message"] for line in lines] == [f"request {n}" for n in range(500)]
    assert all(line["status"] == 200 and line["path"] == "/api/trade" for line in lines)
    assert stream.writers == {"om-log-writer"}
    assert stream.writes < 50  # batched: one write per flush, not per line


def test_a_record_is_written_within_the_flush_interval(logger: logging.Logger) -> None:
    stream = CountingStream()
    writer = LogWriter(stream, JsonFormatter())
    logger.addHandler(writer)
    try:
        logger.warning("soon")
        done = threading.Event()
        for _ in range(100):
            if stream.getvalue():
                done.set()
                break
            threading.Event().wait(FLUSH_SECONDS)
        assert done.is_set(), "the line was not written while the writer ran"
    finally:
        logger.removeHandler(writer)
        writer.close()
    assert [line["message"] for line in lines_of(stream)] == ["soon"]


def test_the_message_is_fixed_when_logged_not_when_written(logger: logging.Logger) -> None:
    stream = io.StringIO()
    writer = LogWriter(stream, JsonFormatter())
    logger.addHandler(writer)
    changing = ["before"]
    try:
        logger.info("state %s", changing)
        changing[0] = "after"
    finally:
        logger.removeHandler(writer)
        writer.close()
    assert lines_of(stream)[0]["message"] == "state ['before']"


def test_an_exception_keeps_its_traceback(logger: logging.Logger) -> None:
    stream = io.StringIO()
    writer = LogWriter(stream, JsonFormatter())
    logger.addHandler(writer)
    try:
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            logger.exception("unhandled error", extra={"request_id": "r1"})
    finally:
        logger.removeHandler(writer)
        writer.close()
    (line,) = lines_of(stream)
    assert line["request_id"] == "r1"
    assert "Traceback" in str(line["exception"])
    assert "RuntimeError: boom" in str(line["exception"])


def test_a_bad_record_is_reported_and_the_rest_still_written(
    logger: logging.Logger, capsys: pytest.CaptureFixture[str]
) -> None:
    stream = io.StringIO()
    writer = LogWriter(stream, JsonFormatter())
    bad = logger.makeRecord(logger.name, logging.INFO, __file__, 1, "%d lots", ("many",), None)
    try:
        writer.handle(bad)  # its %-format fails
        logger.addHandler(writer)
        logger.info("after")
    finally:
        logger.removeHandler(writer)
        writer.close()
    assert [line["message"] for line in lines_of(stream)] == ["after"]
    assert "Logging error" in capsys.readouterr().err


def test_after_stopping_records_are_written_at_once(logger: logging.Logger) -> None:
    stream = CountingStream()
    writer = LogWriter(stream, JsonFormatter())
    logger.addHandler(writer)
    try:
        writer.stop()
        logger.info("late")
        assert [line["message"] for line in lines_of(stream)] == ["late"]
    finally:
        logger.removeHandler(writer)
        writer.close()


def test_a_full_queue_is_written_by_the_logging_thread_in_order(logger: logging.Logger) -> None:
    stream = CountingStream()
    # The writer thread does not wake during the test: every write below is the logger's own.
    writer = LogWriter(stream, JsonFormatter(), flush_seconds=60, max_queued=10)
    logger.addHandler(writer)
    try:
        for number in range(25):
            logger.info("line %d", number)
        assert stream.writers == {threading.main_thread().name}
        assert [line["message"] for line in lines_of(stream)] == [f"line {n}" for n in range(20)]
    finally:
        logger.removeHandler(writer)
        writer.close()
    assert [line["message"] for line in lines_of(stream)] == [f"line {n}" for n in range(25)]


@pytest.mark.parametrize(
    ("ending", "status"),
    [
        ("sys.exit(3)", 3),  # atexit, then `logging.shutdown`
        # uvicorn re-raises SIGTERM after its graceful stop, and the default disposition would
        # end the process without running atexit.
        ("signal.raise_signal(signal.SIGTERM)", -signal.SIGTERM),
    ],
)
def test_a_process_that_ends_writes_what_it_logged_first(ending: str, status: int) -> None:
    program = (
        "import logging, signal, sys\n"
        "from services.logs import configure_logging\n"
        "configure_logging('INFO')\n"
        "for n in range(200):\n"
        "    logging.getLogger('om.test').info('line %d', n)\n"
        f"{ending}\n"
        "logging.getLogger('om.test').info('never')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == status
    messages = [json.loads(line)["message"] for line in done.stderr.splitlines()]
    assert messages == [f"line {n}" for n in range(200)]
