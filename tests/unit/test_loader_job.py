"""The loader's write path without AWS: item encoding, partitioned writing, the BatchWriteItem body.

`RecordingWriter` stands in for the sink (`BatchWriter`), not for DynamoDB: it records which
batches arrive in which order, which is all `PartitionedWriter` promises. Items are opaque to
`PartitionedWriter`, so these tests pass `"<id>:<row>"` strings and read them back.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.loader.csv_rows import ParsedRow
from services.loader.job import LoadedOrderEncoder, PartitionedWriter
from shared import codecs
from shared.errors import StoreUnavailable
from shared.models import Order, OrderDraft, Side
from shared.repository import batch_writer
from shared.repository.batch_writer import MAX_BATCH_ITEMS, BatchWriter
from shared.repository.uploads import UploadedObject
from shared.settings import AwsSettings

WAIT_SECONDS = 10.0
UPLOAD_TIME = datetime(2024, 5, 16, 10, 45, 21, tzinfo=UTC)
UPLOAD_SECONDS = 1_715_856_321
ETAG = '"0123456789abcdef0123456789abcdef"'
STAMP = re.compile(r"\d{19}\.[0-9a-f]{8}")


class RecordingWriter:
    """An `ItemWriter` that keeps every batch in arrival order; optionally fails."""

    def __init__(self, fail: Callable[[list[str]], None] | None = None) -> None:
        self.batches: list[list[str]] = []
        self.calls = 0
        self._fail = fail
        self._lock = threading.Lock()

    def write(self, items_json: Sequence[str]) -> None:
        items = list(items_json)
        with self._lock:
            self.calls += 1
        if self._fail is not None:
            self._fail(items)
        with self._lock:
            self.batches.append(items)

    def items(self) -> list[str]:
        return [item for batch in self.batches for item in batch]


def item(order_id: int, row: int) -> str:
    return f"{order_id}:{row}"


def id_and_row(item_json: str) -> tuple[int, int]:
    order_id, row = item_json.split(":")
    return int(order_id), int(row)


def add_all(target: PartitionedWriter, order_ids: Sequence[int]) -> None:
    """Add one row per id, numbered by its position: the row number stands for file order."""
    for row, order_id in enumerate(order_ids):
        target.add(order_id, item(order_id, row))


def wait_until(condition: Callable[[], bool]) -> bool:
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.001)
    return True


# --- PartitionedWriter ------------------------------------------------------------------------

file_ids = st.lists(st.integers(1, 60), max_size=400)


@settings(max_examples=60, deadline=None)
@given(order_ids=file_ids, partitions=st.integers(1, 6), queue_batches=st.integers(1, 3))
def test_rows_of_one_id_reach_the_writer_in_file_order_so_the_last_row_wins(
    order_ids: list[int], partitions: int, queue_batches: int
) -> None:
    writer = RecordingWriter()
    target = PartitionedWriter(writer, partitions, queue_batches=queue_batches)
    add_all(target, order_ids)
    target.close()

    seen: dict[int, list[int]] = {}
    for order_id, row in map(id_and_row, writer.items()):
        seen.setdefault(order_id, []).append(row)
    last_row = {order_id: row for row, order_id in enumerate(order_ids)}
    assert {order_id: rows[-1] for order_id, rows in seen.items()} == last_row
    assert all(rows == sorted(set(rows)) for rows in seen.values())


@settings(max_examples=60, deadline=None)
@given(order_ids=file_ids, partitions=st.integers(1, 6))
def test_no_batch_is_empty_holds_more_than_25_items_or_repeats_an_id(
    order_ids: list[int], partitions: int
) -> None:
    writer = RecordingWriter()
    target = PartitionedWriter(writer, partitions)
    add_all(target, order_ids)
    target.close()

    for batch in writer.batches:
        ids = [id_and_row(entry)[0] for entry in batch]
        assert 0 < len(ids) <= MAX_BATCH_ITEMS
        assert len(set(ids)) == len(ids)


@settings(max_examples=60, deadline=None)
@given(order_ids=file_ids, partitions=st.integers(1, 6))
def test_written_rows_counts_every_row_including_replaced_ones_after_close(
    order_ids: list[int], partitions: int
) -> None:
    target = PartitionedWriter(RecordingWriter(), partitions)
    add_all(target, order_ids)
    target.close()
    assert target.written_rows == len(order_ids)


def test_later_row_for_an_id_replaces_the_pending_one_and_moves_to_the_back_of_the_batch() -> None:
    writer = RecordingWriter()
    target = PartitionedWriter(writer, partitions=1)
    target.add(1, "1:first")
    target.add(2, "2:only")
    target.add(1, "1:second")
    target.close()
    assert writer.batches == [["2:only", "1:second"]]
    assert target.written_rows == 3


def test_thirty_rows_of_one_id_are_one_item_but_count_as_thirty_rows() -> None:
    writer = RecordingWriter()
    target = PartitionedWriter(writer, partitions=1)
    add_all(target, [7] * 30)
    target.close()
    assert writer.batches == [[item(7, 29)]]
    assert target.written_rows == 30


def test_a_full_batch_is_sent_before_close() -> None:
    writer = RecordingWriter()
    target = PartitionedWriter(writer, partitions=1)
    add_all(target, range(1, MAX_BATCH_ITEMS + 1))
    try:
        assert wait_until(lambda: len(writer.batches) == 1)
        assert len(writer.batches[0]) == MAX_BATCH_ITEMS
    finally:
        target.close()


def test_each_id_always_goes_to_the_same_partition_thread() -> None:
    threads: dict[int, set[str]] = {}

    def note_thread(items: list[str]) -> None:
        for entry in items:
            threads.setdefault(id_and_row(entry)[0], set()).add(threading.current_thread().name)

    target = PartitionedWriter(RecordingWriter(note_thread), partitions=3)
    add_all(target, [n % 10 + 1 for n in range(500)])
    target.close()
    assert all(len(names) == 1 for names in threads.values())
    assert len({name for names in threads.values() for name in names}) == 3


def test_more_partitions_than_rows_writes_every_row() -> None:
    writer = RecordingWriter()
    target = PartitionedWriter(writer, partitions=16)
    add_all(target, [5, 9, 5])
    target.close()
    assert sorted(writer.items()) == [item(5, 2), item(9, 1)]
    assert target.written_rows == 3


def test_close_without_rows_writes_nothing() -> None:
    writer = RecordingWriter()
    target = PartitionedWriter(writer, partitions=4)
    target.close()
    assert writer.calls == 0
    assert target.written_rows == 0


def test_close_reraises_the_writer_failure_and_counts_only_rows_written_before_it() -> None:
    failure = StoreUnavailable("table unreachable")

    def fail_on_id_26(items: list[str]) -> None:
        if any(id_and_row(entry)[0] == 26 for entry in items):
            raise failure

    writer = RecordingWriter(fail_on_id_26)
    target = PartitionedWriter(writer, partitions=1)
    add_all(target, [*range(1, MAX_BATCH_ITEMS + 1), 26, 26, 27])
    with pytest.raises(StoreUnavailable) as raised:
        target.close()
    assert raised.value is failure
    assert target.failure is failure
    assert len(writer.batches) == 1
    assert target.written_rows == MAX_BATCH_ITEMS  # the three rows of the failed batch are not


def test_failing_writer_never_blocks_the_producer_and_is_not_called_again() -> None:
    def always_fail(items: list[str]) -> None:
        raise StoreUnavailable("throttled for good")

    writer = RecordingWriter(always_fail)
    target = PartitionedWriter(writer, partitions=1, queue_batches=1)
    # 200 full batches through a one-batch queue: the producer finishes only if the writer
    # thread keeps draining after the failure.
    producer = threading.Thread(
        target=add_all, args=(target, range(1, 200 * MAX_BATCH_ITEMS + 1)), daemon=True
    )
    producer.start()
    producer.join(WAIT_SECONDS)
    assert not producer.is_alive(), "the producer is blocked on a full queue"
    with pytest.raises(StoreUnavailable, match="throttled for good"):
        target.close()
    assert writer.calls == 1
    assert target.written_rows == 0


def test_close_raises_the_first_write_failure_when_several_partitions_fail() -> None:
    # `close()` documents "raise the first write failure". Timeline: partition 1's write
    # starts; partition 0's write fails (first); then partition 1's write fails (second).
    first, second = StoreUnavailable("first"), RuntimeError("second")
    odd_write_started = threading.Event()
    target: PartitionedWriter | None = None

    def fail(items: list[str]) -> None:
        if id_and_row(items[0])[0] % 2 == 0:
            assert odd_write_started.wait(WAIT_SECONDS)
            raise first
        odd_write_started.set()
        assert wait_until(lambda: target is not None and target.failure is not None)
        raise second

    target = PartitionedWriter(RecordingWriter(fail), partitions=2)
    add_all(target, [1, 2])
    with pytest.raises(Exception) as raised:
        target.close()
    assert raised.value is first


# --- LoadedOrderEncoder -----------------------------------------------------------------------


def upload(
    *, last_modified: datetime = UPLOAD_TIME, etag: str = ETAG, key: str = "uploads/a.csv"
) -> UploadedObject:
    return UploadedObject(
        bucket="bucket", key=key, size=1234, last_modified=last_modified, etag=etag
    )


def parsed(line: int, order_id: int = 42, price: str = "20.5") -> ParsedRow:
    draft = OrderDraft(id=order_id, symbol="BRK.A", side=Side.SELL, amount=3, price=Decimal(price))
    return ParsedRow(line, draft)


def encoded(row: ParsedRow, source: UploadedObject | None = None) -> dict[str, dict[str, str]]:
    item_json = LoadedOrderEncoder(source or upload()).encode(row)
    decoded: dict[str, dict[str, str]] = json.loads(item_json)
    return decoded


def test_encoded_row_is_the_order_item_stamped_with_the_upload_time_etag_and_line() -> None:
    expected = Order(
        id=42,
        symbol="BRK.A",
        side=Side.SELL,
        amount=3,
        price=Decimal("20.5"),
        sequence=f"{UPLOAD_SECONDS * 10**9 + 7:019d}.01234567",
        version=UPLOAD_SECONDS * 10**6,
        created_at=UPLOAD_TIME,
        updated_at=UPLOAD_TIME,
    )
    assert encoded(parsed(7)) == codecs.order_to_item(expected)


def test_same_upload_and_row_encode_to_identical_json_across_runs() -> None:
    rows = [parsed(2), parsed(3, order_id=1, price="0.00000001"), parsed(10**6, price="1E+3")]
    first_run = [LoadedOrderEncoder(upload()).encode(row) for row in rows]
    second_run = [LoadedOrderEncoder(upload(key="uploads/a.csv")).encode(row) for row in rows]
    assert first_run == second_run


def test_sequence_increases_with_the_line_so_file_order_is_time_priority() -> None:
    lines = [2, 3, 4, 99, 100, 1_000_000]
    items = [encoded(parsed(line)) for line in lines]
    sequences = [entry["sequence"]["S"] for entry in items]
    book_keys = [entry["GSI1SK"]["S"] for entry in items]
    assert sequences == sorted(sequences)
    assert len(set(sequences)) == len(lines)
    assert book_keys == sorted(book_keys)  # same price level: the earlier line walks first


def test_version_is_the_upload_time_in_microseconds() -> None:
    version = encoded(parsed(2))["version"]["N"]
    assert int(version) == int(UPLOAD_TIME.timestamp()) * 1_000_000


def test_created_and_updated_are_the_upload_time() -> None:
    entry = encoded(parsed(2))
    assert entry["createdAt"] == entry["updatedAt"] == {"S": "2024-05-16T10:45:21.000000Z"}


def test_a_different_etag_changes_the_generator_id() -> None:
    one = encoded(parsed(2), upload(etag='"0123456789abcdef0123456789abcdef"'))
    other = encoded(parsed(2), upload(etag='"fedcba98765432100123456789abcdef"'))
    assert one["sequence"]["S"].split(".")[1] == "01234567"
    assert other["sequence"]["S"].split(".")[1] == "fedcba98"


def test_a_later_upload_of_the_same_file_gets_a_higher_version_and_later_sequences() -> None:
    earlier = encoded(parsed(1_000_000))
    later = encoded(parsed(2), upload(last_modified=UPLOAD_TIME.replace(second=22)))
    assert int(later["version"]["N"]) > int(earlier["version"]["N"])
    assert later["sequence"]["S"] > earlier["sequence"]["S"]


@pytest.mark.parametrize(
    "etag",
    [ETAG, '"0123456789abcdef0123456789abcdef-12"', "ABCDEF0123456789", '"xyz"', ""],
)
def test_sequence_keeps_the_stamp_layout_for_any_etag_shape(etag: str) -> None:
    assert STAMP.fullmatch(encoded(parsed(2), upload(etag=etag))["sequence"]["S"])


# --- BatchWriter (the real ItemWriter): request body and retry loop, nothing sent ---------------


def batch_writer_for(table: str = "om-test.orders_1", **options: Any) -> BatchWriter:
    aws = AwsSettings(table_name=table, aws_access_key_id="x", aws_secret_access_key="y")
    return BatchWriter(aws, **options)


def sample_orders(count: int) -> list[Order]:
    return [
        Order(
            id=n,
            symbol=f"SYM-{n}",
            side=Side(n % 2),
            amount=n,
            price=Decimal(n).scaleb(-3),
            sequence=f"{n:019d}.0000abcd",
            version=n,
            created_at=UPLOAD_TIME,
            updated_at=UPLOAD_TIME,
        )
        for n in range(1, count + 1)
    ]


@pytest.mark.parametrize("count", [1, 2, MAX_BATCH_ITEMS])
def test_body_is_a_batch_write_of_put_requests_for_the_settings_table(count: int) -> None:
    orders = sample_orders(count)
    body = batch_writer_for("om-test.orders_1")._body([codecs.order_item_json(o) for o in orders])
    assert json.loads(body) == {
        "RequestItems": {
            "om-test.orders_1": [{"PutRequest": {"Item": codecs.order_to_item(o)}} for o in orders]
        }
    }


class ScriptedSend:
    """Replaces `BatchWriter._send`: records bodies and answers with scripted outcomes."""

    def __init__(self, outcomes: list[tuple[bytes | None, str] | None]) -> None:
        self.outcomes = outcomes
        self.bodies: list[bytes] = []

    def __call__(self, body: bytes) -> tuple[bytes | None, str] | None:
        self.bodies.append(body)
        return self.outcomes.pop(0)


def scripted_writer(
    monkeypatch: pytest.MonkeyPatch,
    outcomes: list[tuple[bytes | None, str] | None],
    **options: float,
) -> tuple[BatchWriter, ScriptedSend, list[float]]:
    monkeypatch.setattr(batch_writer.random, "random", lambda: 1.0)  # the full backoff ceiling
    sleeps: list[float] = []
    writer = batch_writer_for(sleep=sleeps.append, **options)
    send = ScriptedSend(outcomes)
    monkeypatch.setattr(writer, "_send", send)
    return writer, send, sleeps


ITEMS = [codecs.order_item_json(o) for o in sample_orders(2)]


@pytest.mark.parametrize("count", [0, MAX_BATCH_ITEMS + 1])
def test_write_refuses_an_empty_or_oversized_batch_before_sending(
    monkeypatch: pytest.MonkeyPatch, count: int
) -> None:
    writer, send, _ = scripted_writer(monkeypatch, [])
    with pytest.raises(ValueError, match="1-25 items"):
        writer.write([ITEMS[0]] * count)
    assert send.bodies == []


def test_unprocessed_items_are_resent_until_none_remain(monkeypatch: pytest.MonkeyPatch) -> None:
    outcomes: list[tuple[bytes | None, str] | None] = [
        (b"left-1", "unprocessed items"),
        (b"left-2", "unprocessed items"),
        None,
    ]
    writer, send, sleeps = scripted_writer(monkeypatch, outcomes)
    writer.write(ITEMS)
    assert send.bodies == [writer._body(ITEMS), b"left-1", b"left-2"]
    assert writer.retries == 2
    assert len(sleeps) == 2


def test_throttled_call_resends_the_same_body(monkeypatch: pytest.MonkeyPatch) -> None:
    outcomes: list[tuple[bytes | None, str] | None] = [
        (None, "HTTP 400 ThrottlingException"),
        (None, "connection failed (ProtocolError)"),
        None,
    ]
    writer, send, _ = scripted_writer(monkeypatch, outcomes)
    writer.write(ITEMS)
    assert send.bodies == [writer._body(ITEMS)] * 3


def test_backoff_doubles_from_the_base_delay_up_to_the_cap(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    outcomes: list[tuple[bytes | None, str] | None] = [(None, "HTTP 503")] * 6 + [None]
    writer, _, sleeps = scripted_writer(monkeypatch, outcomes, base_delay=0.02, max_delay=0.1)
    writer.write(ITEMS)
    assert sleeps == pytest.approx([0.04, 0.08, 0.1, 0.1, 0.1, 0.1])


def test_write_gives_up_with_store_unavailable_once_the_deadline_would_pass(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    outcomes: list[tuple[bytes | None, str] | None] = [(None, "HTTP 503 ServiceUnavailable")]
    writer, _, sleeps = scripted_writer(monkeypatch, outcomes, deadline_seconds=0.01)
    with pytest.raises(StoreUnavailable, match="kept failing: HTTP 503 ServiceUnavailable"):
        writer.write(ITEMS)
    assert sleeps == []


def test_backoff_stays_capped_however_many_attempts_a_long_deadline_allows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # `write_deadline_seconds` may be up to 3600 s; at ~1-2 s per failed attempt a store that
    # stays down for ~20 minutes reaches attempt 1024, where `2.0**attempt` overflows a float.
    attempts = 1100
    outcomes: list[tuple[bytes | None, str] | None] = [(None, "HTTP 503")] * attempts + [None]
    writer, _, sleeps = scripted_writer(monkeypatch, outcomes, deadline_seconds=3600.0)
    writer.write(ITEMS)
    assert writer.retries == attempts
    assert max(sleeps) <= 2.0
