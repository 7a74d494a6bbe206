"""The loader's pure parts: cutting rows into batches (`PartitionedWriter`) and encoding them.

`RecordingSink` stands in for the batch sink (`LoadBatchWriter`), not for DynamoDB: it keeps each
batch it is handed, and the thread that handed it over, which is all `PartitionedWriter` promises;
what a batch does to the table is `test_load_writer.py`'s business. Items are opaque to
`PartitionedWriter`, so these tests pass `"<id>@<line>"` strings and read them back.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.loader.csv_rows import ParsedRow
from services.loader.encoding import LoadedOrderEncoder
from services.loader.job import PartitionedWriter
from shared import codecs
from shared.errors import StoreUnavailable
from shared.models import BatchLoad, LoadPlan, LoadStatus, Order, OrderDraft, RowError, Side
from shared.repository.load_writer import (
    MAX_BATCH_LINES,
    MAX_BATCH_ROWS,
    BatchResult,
    BatchRow,
    LoadBatch,
    owned_elsewhere,
)
from shared.repository.uploads import UploadedObject

WAIT_SECONDS = 10.0
UPLOAD_TIME = datetime(2024, 5, 16, 10, 45, 21, tzinfo=UTC)
UPLOAD_SECONDS = 1_715_856_321
ETAG = '"0123456789abcdef0123456789abcdef"'
STAMP = re.compile(r"\d{19}\.[0-9a-f]{8}")
FIRST_LINE = 2
"""The first data row's line in a file (the header is line 1)."""


def loads_every_row(batch: LoadBatch) -> BatchResult:
    """What a sink returns for a batch it wrote whole."""
    return BatchResult(sum(len(row.lines) for row in batch.rows), (), written_before=False)


class RecordingSink:
    """A `BatchSink` that keeps every batch it wrote, in arrival order, with the writing thread.

    `answer` decides each batch's result (or raises, and the batch counts as not written).
    """

    retries = 0

    def __init__(self, answer: Callable[[LoadBatch], BatchResult] = loads_every_row) -> None:
        self.written: list[tuple[str, LoadBatch]] = []
        self.calls = 0
        self._answer = answer
        self._lock = threading.Lock()

    def write(self, batch: LoadBatch) -> BatchResult:
        with self._lock:
            self.calls += 1
        result = self._answer(batch)
        with self._lock:
            self.written.append((threading.current_thread().name, batch))
        return result

    def batches(self) -> list[LoadBatch]:
        return [batch for _, batch in self.written]

    def by_partition(self) -> dict[int, list[LoadBatch]]:
        """Each partition's batches in the order they reached the sink."""
        found: dict[int, list[LoadBatch]] = {}
        for batch in self.batches():
            found.setdefault(batch.partition, []).append(batch)
        return found


def partitioned(
    sink: RecordingSink,
    *,
    partitions: int = 1,
    batch_rows: int = 3,
    workers: int = 1,
    queue_batches: int = 4,
) -> PartitionedWriter:
    plan = LoadPlan(upload_etag=ETAG, partitions=partitions, batch_rows=batch_rows)
    return PartitionedWriter(sink, plan, workers, queue_batches=queue_batches)


def item(order_id: int, line: int) -> str:
    return f"{order_id}@{line}"


def line_of(item_json: str) -> int:
    return int(item_json.split("@")[1])


def add_all(target: PartitionedWriter, order_ids: Sequence[int]) -> None:
    """Add one file row per id, in order, on lines 2, 3, …"""
    for line, order_id in enumerate(order_ids, start=FIRST_LINE):
        target.add(order_id, item(order_id, line), line)


def written(order_ids: Sequence[int], **options: int) -> tuple[PartitionedWriter, RecordingSink]:
    """The writer and its sink after the file `order_ids` was added and the writer closed."""
    sink = RecordingSink()
    target = partitioned(sink, **options)
    add_all(target, order_ids)
    target.close()
    return target, sink


def wait_until(condition: Callable[[], bool]) -> bool:
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.001)
    return True


# --- PartitionedWriter: how rows are cut into batches -------------------------------------------

file_ids = st.lists(st.integers(1, 60), max_size=400)
partition_counts = st.integers(1, 6)
batch_sizes = st.integers(1, 12)


@settings(max_examples=60, deadline=None)
@given(order_ids=file_ids, partitions=partition_counts, batch_rows=batch_sizes)
def test_a_batch_holds_distinct_ids_of_its_partition_and_is_full_unless_its_partitions_last(
    order_ids: list[int], partitions: int, batch_rows: int
) -> None:
    _, sink = written(order_ids, partitions=partitions, batch_rows=batch_rows)
    for batches in sink.by_partition().values():
        for batch in batches:
            ids = [row.order_id for row in batch.rows]
            assert len(set(ids)) == len(ids)
            assert {order_id % partitions for order_id in ids} == {batch.partition}
            assert 0 < len(ids) <= batch_rows
        assert all(len(batch.rows) == batch_rows for batch in batches[:-1])


@settings(max_examples=60, deadline=None)
@given(order_ids=file_ids, partitions=partition_counts, batch_rows=batch_sizes)
def test_every_file_row_is_in_one_batch_under_its_ids_last_item_and_counted_loaded(
    order_ids: list[int], partitions: int, batch_rows: int
) -> None:
    target, sink = written(order_ids, partitions=partitions, batch_rows=batch_rows)
    rows = [row for batch in sink.batches() for row in batch.rows]
    all_lines = [line for row in rows for line in row.lines]
    assert sorted(all_lines) == list(range(FIRST_LINE, FIRST_LINE + len(order_ids)))
    for row in rows:
        assert list(row.lines) == sorted(row.lines)
        assert row.item_json == item(row.order_id, row.lines[-1])
    assert target.loaded_rows == len(order_ids)
    assert target.rejected == []


@settings(max_examples=60, deadline=None)
@given(
    order_ids=file_ids,
    partitions=partition_counts,
    batch_rows=batch_sizes,
    workers=st.integers(1, 8),
    queue_batches=st.integers(1, 3),
)
def test_a_partitions_batches_arrive_in_number_order_so_an_ids_last_row_is_written_last(
    order_ids: list[int], partitions: int, batch_rows: int, workers: int, queue_batches: int
) -> None:
    _, sink = written(
        order_ids,
        partitions=partitions,
        batch_rows=batch_rows,
        workers=workers,
        queue_batches=queue_batches,
    )
    written_lines: dict[int, list[int]] = {}
    for batches in sink.by_partition().values():
        assert [batch.number for batch in batches] == list(range(len(batches)))
        for batch in batches:
            for row in batch.rows:
                written_lines.setdefault(row.order_id, []).append(line_of(row.item_json))
    last_line = {order_id: line for line, order_id in enumerate(order_ids, start=FIRST_LINE)}
    assert {order_id: lines[-1] for order_id, lines in written_lines.items()} == last_line
    assert all(lines == sorted(lines) for lines in written_lines.values())


@settings(max_examples=40, deadline=None)
@given(
    order_ids=file_ids,
    partitions=partition_counts,
    batch_rows=batch_sizes,
    workers=st.integers(2, 8),
)
def test_batches_and_their_numbers_are_the_same_whatever_the_worker_count(
    order_ids: list[int], partitions: int, batch_rows: int, workers: int
) -> None:
    # A rerun may run with another OM_LOAD_WORKERS: it must cut the very batches the first cut.
    def cut(worker_count: int) -> dict[tuple[int, int], list[BatchRow]]:
        _, sink = written(
            order_ids, partitions=partitions, batch_rows=batch_rows, workers=worker_count
        )
        return {(batch.partition, batch.number): list(batch.rows) for batch in sink.batches()}

    assert cut(workers) == cut(1)


def test_batches_are_numbered_from_zero_within_each_partition() -> None:
    _, sink = written([2, 1, 4, 6, 3], partitions=2, batch_rows=1)
    numbered = {(batch.partition, batch.number): batch.rows[0].order_id for batch in sink.batches()}
    assert numbered == {(0, 0): 2, (1, 0): 1, (0, 1): 4, (0, 2): 6, (1, 1): 3}


def test_a_later_row_for_an_id_replaces_its_item_keeps_both_lines_and_moves_to_the_back() -> None:
    sink = RecordingSink()
    target = partitioned(sink)
    target.add(1, "1@first", 2)
    target.add(2, "2@only", 3)
    target.add(1, "1@second", 4)
    target.close()
    assert sink.batches() == [
        LoadBatch(
            partition=0,
            number=0,
            rows=[BatchRow(2, "2@only", (3,)), BatchRow(1, "1@second", (2, 4))],
        )
    ]
    assert target.loaded_rows == 3


def test_thirty_rows_of_one_id_are_one_batch_row_that_counts_thirty_file_rows() -> None:
    target, sink = written([7] * 30)
    [batch] = sink.batches()
    assert batch.rows == [BatchRow(7, item(7, 31), tuple(range(2, 32)))]
    assert target.loaded_rows == 30


def test_a_batch_is_cut_at_the_line_limit_even_with_room_for_more_ids() -> None:
    # The marker lists a batch's rejected lines, so one batch stands for at most 1,000 lines.
    rows = MAX_BATCH_LINES + 1
    target, sink = written([7] * rows, batch_rows=MAX_BATCH_ROWS)
    first, second = sink.batches()
    assert [len(row.lines) for row in (*first.rows, *second.rows)] == [MAX_BATCH_LINES, 1]
    assert second.rows[0].item_json == item(7, FIRST_LINE + rows - 1)
    assert target.loaded_rows == rows


def test_a_full_batch_is_sent_before_close() -> None:
    sink = RecordingSink()
    target = partitioned(sink, batch_rows=5)
    add_all(target, range(1, 6))
    try:
        assert wait_until(lambda: len(sink.written) == 1)
        assert len(sink.batches()[0].rows) == 5
    finally:
        target.close()


@pytest.mark.parametrize("workers", [1, 4, 6, 9])
def test_each_partition_is_written_by_one_thread_shared_by_partitions_alike_modulo_workers(
    workers: int,
) -> None:
    partitions = 6
    _, sink = written(range(1, 601), partitions=partitions, batch_rows=3, workers=workers)
    threads: dict[int, set[str]] = {}
    for thread, batch in sink.written:
        threads.setdefault(batch.partition, set()).add(thread)
    assert sorted(threads) == list(range(partitions))
    assert all(len(names) == 1 for names in threads.values())
    for p in range(partitions):
        for q in range(partitions):
            assert (threads[p] == threads[q]) == (p % workers == q % workers)
    assert len(set.union(*threads.values())) == min(workers, partitions)


def test_close_without_rows_writes_nothing() -> None:
    target, sink = written([], partitions=4, workers=4)
    assert sink.calls == 0
    assert target.loaded_rows == 0


# --- PartitionedWriter: what the batches did ----------------------------------------------------


def test_loaded_rejected_and_written_before_add_up_over_every_batch() -> None:
    # Ids that are multiples of 5 belong to another account; partition 0's first batch was
    # committed by an earlier run.
    def result(batch: LoadBatch) -> BatchResult:
        owned = [row for row in batch.rows if row.order_id % 5 == 0]
        rejected = tuple(
            RowError(line, owned_elsewhere(r.order_id)) for r in owned for line in r.lines
        )
        loaded = sum(len(row.lines) for row in batch.rows) - len(rejected)
        return BatchResult(
            loaded, rejected, written_before=(batch.partition, batch.number) == (0, 0)
        )

    order_ids = [5, 1, 2, 5, 10, 3, 10, 4, 7, 8]
    sink = RecordingSink(result)
    target = partitioned(sink, partitions=2, batch_rows=2, workers=2)
    add_all(target, order_ids)
    target.close()
    owned_lines = [
        RowError(line, owned_elsewhere(order_id))
        for line, order_id in enumerate(order_ids, start=FIRST_LINE)
        if order_id % 5 == 0
    ]
    assert sorted(target.rejected, key=lambda error: error.line) == owned_lines
    assert target.rejected_count == 4
    assert target.loaded_rows == len(order_ids) - 4
    assert target.batches_written_before == 1


def test_close_reraises_the_sinks_failure_and_counts_only_batches_written_before_it() -> None:
    failure = StoreUnavailable("table unreachable")

    def fail_on_id_4(batch: LoadBatch) -> BatchResult:
        if any(row.order_id == 4 for row in batch.rows):
            raise failure
        return loads_every_row(batch)

    sink = RecordingSink(fail_on_id_4)
    target = partitioned(sink, batch_rows=3)
    add_all(target, [1, 2, 3, 4, 5, 6, 7])
    with pytest.raises(StoreUnavailable) as raised:
        target.close()
    assert raised.value is failure
    assert target.failure is failure
    assert sink.calls == 2  # the batch after the failed one is never sent
    assert target.loaded_rows == 3


def test_a_failing_sink_never_blocks_the_reader_and_is_not_called_again() -> None:
    def always_fail(batch: LoadBatch) -> BatchResult:
        raise StoreUnavailable("throttled for good")

    sink = RecordingSink(always_fail)
    target = partitioned(sink, batch_rows=1, queue_batches=1)
    # 2,000 batches through a one-batch queue: the reader finishes only if the writer thread
    # keeps draining after the failure.
    reader = threading.Thread(target=add_all, args=(target, range(1, 2001)), daemon=True)
    reader.start()
    reader.join(WAIT_SECONDS)
    assert not reader.is_alive(), "the reader is blocked on a full queue"
    assert isinstance(target.failure, StoreUnavailable)
    with pytest.raises(StoreUnavailable, match="throttled for good"):
        target.close()
    assert sink.calls == 1
    assert target.loaded_rows == 0


def test_close_raises_the_first_failure_when_several_partitions_fail() -> None:
    # Timeline: partition 1's write starts; partition 0's write fails (first); then
    # partition 1's write fails (second).
    first, second = StoreUnavailable("first"), RuntimeError("second")
    odd_write_started = threading.Event()
    target: PartitionedWriter | None = None

    def fail(batch: LoadBatch) -> BatchResult:
        if batch.partition == 0:
            assert odd_write_started.wait(WAIT_SECONDS)
            raise first
        odd_write_started.set()
        assert wait_until(lambda: target is not None and target.failure is not None)
        raise second

    target = partitioned(RecordingSink(fail), partitions=2, batch_rows=1, workers=2)
    add_all(target, [1, 2])
    with pytest.raises(Exception) as raised:
        target.close()
    assert raised.value is first


def test_abandon_returns_during_a_write_and_the_queued_batches_are_never_written() -> None:
    started, release = threading.Event(), threading.Event()

    def slow(batch: LoadBatch) -> BatchResult:
        started.set()
        assert release.wait(WAIT_SECONDS)
        return loads_every_row(batch)

    sink = RecordingSink(slow)
    target = partitioned(sink, batch_rows=1)
    add_all(target, [1, 2, 3])  # batch 0 in the sink, batches 1 and 2 queued
    assert started.wait(WAIT_SECONDS)
    target.abandon()  # returns although the write in flight has not
    with pytest.raises(RuntimeError, match="abandoned"):
        target.close()  # nor does close wait for it
    release.set()
    writers = [thread for thread in threading.enumerate() if thread.name.startswith("writer-")]
    for thread in writers:  # the writer ends after its write instead of waiting for more
        thread.join(WAIT_SECONDS)
        assert not thread.is_alive()
    assert sink.calls == 1
    assert target.loaded_rows == 1  # the write in flight still counts


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


LOAD = BatchLoad(
    id="0123456789abcdef0123456789abcdef",
    status=LoadStatus.RUNNING,
    bucket="bucket",
    object_key="uploads/0123456789abcdef0123456789abcdef.csv",
    created_at=UPLOAD_TIME,
    url_expires_at=UPLOAD_TIME,
    account="desk-7",
)


def encoded(row: ParsedRow, source: UploadedObject | None = None) -> dict[str, dict[str, str]]:
    item_json = LoadedOrderEncoder(source or upload(), LOAD).encode(row)
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
        account="desk-7",
        token="0123456789ab7",
    )
    assert encoded(parsed(7)) == codecs.order_to_item(expected)


def test_same_upload_and_row_encode_to_identical_json_across_runs() -> None:
    rows = [parsed(2), parsed(3, order_id=1, price="0.00000001"), parsed(10**6, price="1E+3")]
    first_run = [LoadedOrderEncoder(upload(), LOAD).encode(row) for row in rows]
    second_run = [LoadedOrderEncoder(upload(key="uploads/a.csv"), LOAD).encode(row) for row in rows]
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
