"""Reruns never undo later work; ownership, leases and limits of a load — on both engines.

The contract's CSV section: a duplicate S3 event, a retried job, a crash and rerun, or the same
upload processed again must never resurrect, refill or revert an order traded, amended or deleted
after the load wrote it; rows for ids another account owns are rejected with that reason; two runs
of one load never write at once; an upload URL takes one file; size and rejected rows are bounded.
"""

from __future__ import annotations

import threading
import time
from decimal import Decimal
from typing import Any

import httpx

from services.devstack.processes import free_port
from services.loader.cli import build_job
from services.loader.job import BatchSink
from shared.clock import utc_now
from shared.codecs import order_from_item
from shared.errors import OrderNotFound, StoreUnavailable
from shared.models import BatchLoad, LoadCounts, LoadStatus, Order, OrderDraft, Side
from shared.repository.books import BookReader
from shared.repository.load_writer import BatchResult, LoadBatch, owned_elsewhere
from shared.repository.loads import LoadRepository
from shared.repository.uploads import UploadStore
from tests.integration.conftest import TEST_ACCOUNT, LoaderStore
from tests.integration.test_loader import big_csv, desk, order_items, status

OTHER_ACCOUNT = "other-account"


def loads(store: LoaderStore) -> LoadRepository:
    return LoadRepository(store.clients.dynamodb, store.settings.table_name)


class FailingAfter:
    """A sink that writes `batches` batches through the real one, then fails like a dead table
    (the run ends FAILED, exit 1) — a crash half-way that leaves committed batches behind."""

    def __init__(self, sink: BatchSink, batches: int) -> None:
        self._sink = sink
        self._left = batches
        self._lock = threading.Lock()
        self.retries = 0

    def write(self, batch: LoadBatch) -> BatchResult:
        with self._lock:
            self._left -= 1
            if self._left < 0:
                raise StoreUnavailable("injected: the table went away")
        return self._sink.write(batch)


def run_crashing(store: LoaderStore, load: BatchLoad, batches: int, **overrides: Any) -> int:
    job = build_job(store.settings.model_copy(update=overrides))
    real = job.sink_for
    job.sink_for = lambda load: FailingAfter(real(load), batches)
    return job.run(load.bucket, load.object_key)


def current(store: LoaderStore, order_ids: list[int]) -> dict[int, Order | None]:
    """Each order as it is now; None for one that is gone (filled up or deleted)."""
    found: dict[int, Order | None] = {}
    for order_id in order_ids:
        try:
            found[order_id] = store.orders().get(order_id)
        except OrderNotFound:
            found[order_id] = None
    return found


def test_a_rerun_after_a_crash_never_undoes_trades_amends_or_deletes(
    loader_store: LoaderStore,
) -> None:
    content = big_csv(400)
    load = loader_store.upload(content)
    assert run_crashing(loader_store, load, batches=3, load_batch_rows=10, load_workers=1) == 1
    assert status(loader_store, load.id).status is LoadStatus.FAILED
    written = [order.id for order in all_orders(loader_store)]
    assert 0 < len(written) < 400

    # Later work on what the crashed run wrote: a whole sell book traded away, an amend, a delete.
    first = loader_store.orders().get(written[0])
    book = BookReader(loader_store.clients.dynamodb, loader_store.settings.table_name)
    resting = book.snapshot(first.symbol, Side.SELL, 1000)
    filled = sum(entry.amount for entry in resting)
    outcome = desk(loader_store).trade(first.symbol, Side.SELL, filled, account=OTHER_ACCOUNT)
    assert outcome.trade is not None
    untraded = [i for i in written if i not in {entry.id for entry in resting}]
    loader_store.orders().amend(untraded[0], amount=1, price=None, owner=TEST_ACCOUNT)
    loader_store.orders().delete(untraded[1], owner=TEST_ACCOUNT)
    after_work = current(loader_store, written)
    assert sum(order is None for order in after_work.values()) == len(resting) + 1

    # The rerun keeps the plan the first run pinned, whatever this run's settings say.
    assert loader_store.run(load, load_batch_rows=99, load_workers=4) == 0
    done = status(loader_store, load.id)
    assert (done.status, done.counts.read, done.counts.loaded) == (LoadStatus.SUCCEEDED, 400, 400)
    assert current(loader_store, written) == after_work
    assert len(all_orders(loader_store)) == 400 - len(resting) - 1


def all_orders(store: LoaderStore) -> list[Order]:
    return [order_from_item(item) for item in order_items(store)]  # type: ignore[arg-type]


def test_the_same_upload_processed_again_after_trades_changes_nothing(
    loader_store: LoaderStore,
) -> None:
    load = loader_store.upload(big_csv(200))
    assert loader_store.run(load) == 0
    before = status(loader_store, load.id)
    desk(loader_store).trade("SYM1", Side.SELL, 30, account=OTHER_ACCOUNT)
    after_trade = order_items(loader_store)
    assert loader_store.run(load) == 0  # a duplicate event or a retried job
    assert order_items(loader_store) == after_trade
    assert status(loader_store, load.id) == before


def test_a_second_put_to_the_url_never_starts_a_second_load(loader_store: LoaderStore) -> None:
    load = loader_store.upload(big_csv(20))
    assert run_crashing(loader_store, load, batches=0) == 1  # pinned the first file, then died
    replaced = httpx.put(reissue_url(loader_store, load), content=big_csv(5))
    assert replaced.status_code == 200
    assert loader_store.run(load) == 0
    done = status(loader_store, load.id)
    assert done.status is LoadStatus.FAILED
    assert "replaced by a second upload" in (done.reason or "")
    assert order_items(loader_store) == []


def reissue_url(store: LoaderStore, load: BatchLoad) -> str:
    """A presigned PUT for the load's key, as a second use of its URL would send."""
    return UploadStore(store.clients.s3).presign_put(load.bucket, load.object_key, 60)


def test_rows_for_ids_another_account_owns_are_rejected_with_that_reason(
    loader_store: LoaderStore,
) -> None:
    theirs = loader_store.orders().create(
        OrderDraft(id=2, symbol="JPM", side=Side.BUY, amount=5, price=Decimal(10)),
        account=OTHER_ACCOUNT,
    )
    gone = loader_store.orders().create(
        OrderDraft(id=4, symbol="JPM", side=Side.BUY, amount=5, price=Decimal(10)),
        account=OTHER_ACCOUNT,
    )
    loader_store.orders().delete(gone.id)
    content = (
        b"orderId,symbol,side,amount,price\n"
        b"1,A,Buy,1,1\n2,A,Buy,1,1\n3,A,Buy,1,1\n2,B,Sell,2,2\n4,A,Buy,1,1\n"
    )
    load = loader_store.upload(content)
    assert loader_store.run(load) == 0
    done = status(loader_store, load.id)
    assert done.status is LoadStatus.SUCCEEDED
    assert (done.counts.read, done.counts.loaded, done.counts.rejected) == (5, 3, 2)
    assert [(e.line, e.reason) for e in done.errors] == [
        (3, owned_elsewhere(2)),
        (5, owned_elsewhere(2)),
    ]
    assert loader_store.orders().get(2) == theirs  # untouched
    assert loader_store.orders().get(4).account == TEST_ACCOUNT  # a deleted id is free
    report = (
        loader_store.clients.s3.get_object(
            Bucket=loader_store.settings.bucket_name, Key=done.error_report_key or ""
        )["Body"]
        .read()
        .decode()
    )
    assert report.splitlines() == [
        "line,reason",
        f"3,{owned_elsewhere(2)}",
        f"5,{owned_elsewhere(2)}",
    ]


def test_a_run_waits_for_a_dead_runs_lease_and_leaves_a_live_one_alone(
    loader_store: LoaderStore,
) -> None:
    load = loader_store.upload(big_csv(50))
    repository = loads(loader_store)
    repository.start(load.id, utc_now(), owner="dead-run", lease_seconds=2)
    started = time.monotonic()
    assert loader_store.run(load, load_lease_seconds=3) == 0
    assert time.monotonic() - started >= 1.0  # it waited for the lease to run out
    assert status(loader_store, load.id).counts.loaded == 50

    second = loader_store.upload(big_csv(10))
    repository.start(second.id, utc_now(), owner="live-run", lease_seconds=3)
    stop = threading.Event()

    def keep_alive() -> None:
        while not stop.wait(0.3):
            repository.renew(
                second.id, owner="live-run", at=utc_now(), lease_seconds=3, counts=LoadCounts()
            )

    beat = threading.Thread(target=keep_alive, daemon=True)
    beat.start()
    try:
        assert loader_store.run(second, load_lease_seconds=3) == 0
    finally:
        stop.set()
        beat.join()
    left = status(loader_store, second.id)
    assert (left.status, left.counts.loaded) == (LoadStatus.RUNNING, 0)  # the live run's to finish
    assert all_orders(loader_store) and all(o.id <= 50 for o in all_orders(loader_store))


def test_an_upload_over_the_size_limit_fails_unread(loader_store: LoaderStore) -> None:
    load = loader_store.upload(big_csv(100))
    assert loader_store.run(load, max_upload_bytes=100) == 0
    done = status(loader_store, load.id)
    assert done.status is LoadStatus.FAILED
    assert "OM_MAX_UPLOAD_BYTES" in (done.reason or "")
    assert done.counts.read == 0
    assert order_items(loader_store) == []


def test_a_load_stops_failed_after_too_many_rejected_rows(loader_store: LoaderStore) -> None:
    rows = "".join(f"{i},JPM,Hold,1,1\n" for i in range(1, 3000))
    load = loader_store.upload(f"orderId,symbol,side,amount,price\n{rows}".encode())
    assert loader_store.run(load, max_rejected_rows=100) == 0
    done = status(loader_store, load.id)
    assert done.status is LoadStatus.FAILED
    assert "too many rejected rows" in (done.reason or "")
    assert 100 < done.counts.rejected < 3000
    assert len(done.errors) == 100 and done.errors[0].line == 2
    assert done.error_report_key is not None


def test_s3_failing_during_a_load_ends_it_failed_for_a_retry_that_completes_it(
    loader_store: LoaderStore,
) -> None:
    content = big_csv(300).replace(b"\n7,", b"\n7,NOT-A-SYMBOL!,")  # one rejected row: a report
    load = loader_store.upload(content)
    unreachable = f"http://127.0.0.1:{free_port()}"
    assert loader_store.run(load, s3_endpoint_url=unreachable, connect_timeout_seconds=0.2) == 1
    failed = status(loader_store, load.id)
    assert failed.status is LoadStatus.FAILED and "will retry" in (failed.reason or "")

    # Now S3 goes away after every row is written, while the report goes up.
    job = build_job(loader_store.settings)
    put_file = job.uploads.put_file

    def s3_gone(*args: Any) -> None:
        raise StoreUnavailable("injected: S3 is unreachable")

    job.uploads.put_file = s3_gone  # type: ignore[method-assign]
    assert job.run(load.bucket, load.object_key) == 1
    assert status(loader_store, load.id).status is LoadStatus.FAILED
    written = order_items(loader_store)
    assert len(written) == 299

    job.uploads.put_file = put_file  # type: ignore[method-assign]
    assert job.run(load.bucket, load.object_key) == 0  # every batch skipped, the report published
    done = status(loader_store, load.id)
    assert (done.status, done.counts.read, done.counts.loaded, done.counts.rejected) == (
        LoadStatus.SUCCEEDED,
        300,
        299,
        1,
    )
    assert done.error_report_key is not None
    assert order_items(loader_store) == written
