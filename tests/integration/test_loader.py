"""The loader end to end over real HTTP: moto server or DynamoDB Local, S3 on moto server."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest

from services.loader.cli import build_job
from services.loader.csv_rows import read_orders
from services.loader.encoding import LoadedOrderEncoder
from shared.models import BatchLoad, LoadStatus, RowError, Side
from shared.repository.books import BookReader
from shared.repository.idempotency import IdempotencyStore
from shared.repository.loads import LoadRepository
from shared.repository.trades import TradeRepository
from shared.repository.uploads import UploadStore
from shared.trading import TradeDesk
from tests.integration.conftest import LoaderStore
from tests.support.fault_proxy import FaultPlan, FaultProxy

SAMPLE = (Path(__file__).parents[2] / "resources" / "sample-orders.csv").read_bytes()
OM = str(Path(sys.executable).parent / "om")


def status(store: LoaderStore, load_id: str):  # type: ignore[no-untyped-def]
    return LoadRepository(store.clients.dynamodb, store.settings.table_name).get(load_id)


def desk(store: LoaderStore) -> TradeDesk:
    client, table = store.clients.dynamodb, store.settings.table_name
    return TradeDesk(
        BookReader(client, table), TradeRepository(client, table), IdempotencyStore(client, table)
    )


def order_items(store: LoaderStore) -> list[dict[str, object]]:
    """Every order item of the table, sorted by key: what "the same table" compares."""
    items: list[dict[str, object]] = []
    paginator = store.clients.dynamodb.get_paginator("scan")
    for page in paginator.paginate(TableName=store.settings.table_name):
        items += [dict(i) for i in page["Items"] if i["entity"]["S"] == "ORDER"]
    return sorted(items, key=lambda item: str(item["PK"]))


def big_csv(rows: int) -> bytes:
    lines = ["orderId,symbol,side,amount,price"]
    for i in range(1, rows + 1):
        side = "Buy" if i % 2 else "Sell"
        lines.append(f"{i},SYM{i % 7},{side},{i % 50 + 1},{i % 997 + 1}.25")
    return ("\n".join(lines) + "\n").encode()


def test_sample_file_loads_and_is_immediately_quotable(loader_store: LoaderStore) -> None:
    load = loader_store.upload(SAMPLE)
    assert status(loader_store, load.id).status is LoadStatus.PENDING
    assert loader_store.run(load) == 0
    done = status(loader_store, load.id)
    assert done.status is LoadStatus.SUCCEEDED
    assert (done.counts.read, done.counts.loaded, done.counts.rejected) == (23, 23, 0)
    assert done.started_at is not None and done.finished_at is not None
    assert done.error_report_key is None
    brk = loader_store.orders().get(10)
    assert (brk.symbol, brk.side, brk.amount, brk.price) == ("BRK.A", Side.SELL, 5, Decimal(510500))
    assert desk(loader_store).quote("JPM", Side.BUY, 22).price == 442


def test_loaded_orders_take_time_priority_in_file_order(loader_store: LoaderStore) -> None:
    content = (
        b"orderId,symbol,side,amount,price\n30,JPM,Buy,1,20\n10,JPM,Buy,1,20\n20,JPM,Buy,1,20\n"
    )
    load = loader_store.upload(content)
    loader_store.run(load)
    book = BookReader(loader_store.clients.dynamodb, loader_store.settings.table_name)
    assert [e.id for e in book.snapshot("JPM", Side.BUY, 1000)] == [30, 10, 20]


def test_bad_rows_are_reported_with_line_numbers_and_good_rows_still_load(
    loader_store: LoaderStore,
) -> None:
    content = (
        b"\xef\xbb\xbfPrice,SIDE,orderid,symbol,Amount,note\r\n"
        b"20,Buy,1,jpm,20,ok\r\n"
        b"20,Hold,2,JPM,20,bad side\r\n"
        b"\r\n"
        b'"21.5",Sell,3,"MS\nFT",4,quoted newline makes a bad symbol\r\n'
        b"1e5,Buy,4,JPM,1,exponent price\r\n"
        b"22,0,5,JPM,2,fine\r\n"
    )
    load = loader_store.upload(content)
    assert loader_store.run(load) == 0
    done = status(loader_store, load.id)
    assert done.status is LoadStatus.SUCCEEDED
    assert (done.counts.read, done.counts.loaded, done.counts.rejected) == (5, 2, 3)
    assert [(e.line, e.reason.split(":")[0]) for e in done.errors] == [
        (3, "side"),
        (5, "symbol"),
        (7, "price"),
    ]
    report = loader_store.clients.s3.get_object(
        Bucket=loader_store.settings.bucket_name, Key=done.error_report_key or ""
    )["Body"].read()
    assert report.decode().splitlines()[0] == "line,reason"
    assert len(report.decode().splitlines()) == 4
    assert loader_store.orders().get(1).symbol == "JPM"
    assert loader_store.orders().get(5).amount == 2


def test_last_row_for_an_id_wins_and_an_existing_order_is_replaced(
    loader_store: LoaderStore,
) -> None:
    first = loader_store.upload(b"orderId,symbol,side,amount,price\n1,JPM,Buy,5,10\n")
    loader_store.run(first)
    content = b"orderId,symbol,side,amount,price\n1,JPM,Buy,6,11\n2,X,Buy,1,1\n1,AAPL,Sell,7,12\n"
    second = loader_store.upload(content)
    loader_store.run(second)
    replaced = loader_store.orders().get(1)
    assert (replaced.symbol, replaced.side, replaced.amount) == ("AAPL", Side.SELL, 7)
    book = BookReader(loader_store.clients.dynamodb, loader_store.settings.table_name)
    assert book.snapshot("JPM", Side.BUY, 1000) == []


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\xff\xfe", "not UTF-8"),
        (b'{"orders": [1, 2, 3]}\n', "header"),
        (b"id,symbol,side,amount,price\n1,JPM,Buy,1,1\n", "missing orderid"),
    ],
    ids=["empty", "binary", "json", "wrong-header"],
)
def test_file_that_is_not_an_orders_csv_fails_with_a_reason(
    loader_store: LoaderStore, content: bytes, reason: str
) -> None:
    load = loader_store.upload(content)
    assert loader_store.run(load) == 0
    done = status(loader_store, load.id)
    assert done.status is LoadStatus.FAILED
    assert reason in (done.reason or "")
    assert done.finished_at is not None


def test_header_only_file_succeeds_with_zero_rows(loader_store: LoaderStore) -> None:
    load = loader_store.upload(b"orderId,symbol,side,amount,price\r\n")
    assert loader_store.run(load) == 0
    done = status(loader_store, load.id)
    assert (done.status, done.counts.read, done.counts.loaded) == (LoadStatus.SUCCEEDED, 0, 0)


def test_missing_object_fails_with_a_reason(loader_store: LoaderStore) -> None:
    load, _ = loader_store.service.start("test")
    assert loader_store.run(load) == 0
    done = status(loader_store, load.id)
    assert done.status is LoadStatus.FAILED
    assert "missing" in (done.reason or "")


def test_keys_this_service_did_not_issue_are_ignored(loader_store: LoaderStore) -> None:
    job = build_job(loader_store.settings)
    assert job.run(loader_store.settings.bucket_name, "elsewhere/file.csv") == 0
    assert job.run(loader_store.settings.bucket_name, f"uploads/{'0' * 32}.csv") == 0


def expected_items(store: LoaderStore, load: BatchLoad, content: bytes) -> list[dict[str, object]]:
    """The order items a clean run of `load` writes on an empty table: one per id, last row."""
    upload = UploadStore(store.clients.s3).describe(load.bucket, load.object_key)
    encoder = LoadedOrderEncoder(upload, status(store, load.id))
    items: dict[str, dict[str, object]] = {}
    for row in read_orders(io.StringIO(content.decode(), newline="")):
        assert not isinstance(row, RowError)
        item = json.loads(encoder.encode(row))
        items[item["PK"]["S"]] = item
    return sorted(items.values(), key=lambda item: str(item["PK"]))


def test_faults_on_the_wire_are_retried_and_every_row_is_written_once(
    loader_store: LoaderStore,
) -> None:
    content = big_csv(400)
    load = loader_store.upload(content)
    plan = FaultPlan(rate=0.3, operations=frozenset({"TransactWriteItems"}), stall_seconds=0.6)
    with FaultProxy(loader_store.settings.dynamodb_endpoint_url or "", plan) as proxy:
        exit_status = loader_store.run(
            load, dynamodb_endpoint_url=proxy.url, load_batch_rows=10, read_timeout_seconds=0.3
        )
    assert exit_status == 0
    assert sum(proxy.injected.values()) > 0, proxy.injected
    done = status(loader_store, load.id)
    assert (done.status, done.counts.read, done.counts.loaded) == (LoadStatus.SUCCEEDED, 400, 400)
    assert order_items(loader_store) == expected_items(loader_store, load, content)


def test_running_a_succeeded_load_again_changes_nothing(loader_store: LoaderStore) -> None:
    load = loader_store.upload(big_csv(300))
    loader_store.run(load)
    once, first = order_items(loader_store), status(loader_store, load.id)
    assert loader_store.run(load) == 0
    assert order_items(loader_store) == once
    assert status(loader_store, load.id) == first


def start_loader_process(store: LoaderStore, load: BatchLoad) -> subprocess.Popen[bytes]:
    """`om load-job` as Batch runs it, returned once it has written its first rows."""
    env = {
        **os.environ,
        **{
            f"OM_{name.upper()}": str(value)
            for name, value in store.settings.model_dump().items()
            if value is not None and not isinstance(value, dict)
        },
        "OM_AWS_SECRET_ACCESS_KEY": "omlocalsecret",
        "OM_LOAD_WORKERS": "1",
    }
    process = subprocess.Popen(
        [OM, "load-job", "--bucket", load.bucket, "--key", load.object_key],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while status(store, load.id).counts.loaded == 0:
        assert process.poll() is None, "the loader finished before it could be stopped"
        assert time.monotonic() < deadline
        time.sleep(0.01)
    return process


def test_sigterm_stops_the_loader_promptly_and_a_rerun_completes(
    loader_store: LoaderStore,
) -> None:
    load = loader_store.upload(big_csv(3000))
    process = start_loader_process(loader_store, load)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 128 + signal.SIGTERM
    assert loader_store.run(load) == 0, status(loader_store, load.id).reason
    assert status(loader_store, load.id).counts.loaded == 3000


def test_rerun_after_a_crash_half_way_gives_the_same_table_as_a_clean_run(
    loader_store: LoaderStore,
) -> None:
    load = loader_store.upload(big_csv(3000))
    process = start_loader_process(loader_store, load)
    process.send_signal(signal.SIGKILL)
    process.wait()
    crashed = status(loader_store, load.id)
    assert crashed.status is LoadStatus.RUNNING
    assert 0 < len(order_items(loader_store)) < 3000

    assert loader_store.run(load) == 0  # waits out the dead run's lease, then takes over
    done = status(loader_store, load.id)
    assert (done.status, done.counts.read, done.counts.loaded) == (LoadStatus.SUCCEEDED, 3000, 3000)
    assert order_items(loader_store) == expected_items(loader_store, load, big_csv(3000))
