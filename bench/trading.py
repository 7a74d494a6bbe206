"""Quotes/s and trades/s on one order book; DynamoDB round trips, capacity and conflict retries.

One in-memory DynamoDB Local. The measured code is the `TradeDesk` that `create_app` builds (the
object the `/api/price` and `/api/trade` routes call), called in this process by 1, 8 and 40
client threads that share one boto3 client, as the API's worker threads do. Nothing in `shared/`
is changed or wrapped: botocore event hooks on the client

* add `ReturnConsumedCapacity=INDEXES` to every call that takes it (`provide-client-params`),
* count HTTP round trips per operation, botocore's own retries included (`before-send`), and
* record each call's outcome, cancellation reasons, consumed capacity and, for a Query, the ids
  of the items it returned (`after-call`),

into a per-thread tally, so each quote and trade gets exactly its own calls.

Every scenario has its own book (one symbol, one side, ten price levels, order amounts 1-5)
seeded through `OrderRepository`; quotes and trades ask for 1-5, so a trade touches 1-5 orders,
mostly 1-3. Runs: quotes and trades with 1, 8 and 40 clients, a sweep of single quotes from 1 to
1597 (one to ~550 orders walked, to see paging), and one client trading with an Idempotency-Key.
A trade run stops early, and says so, before its book could run short, so an unsuccessful trade
is always a client-visible failure. The quote book never changes, so every quote's price is
checked against the pure walk over the seeded orders. After the runs one consistent Scan checks
each trade book: per order, seeded − remaining = Σ of the fills the clients were told about, and
the trade records are exactly the trades clients saw succeed.

Design minimum. Read capacity: a Query is charged for the items it reads, summed per page and
rounded up to 4 KB, 0.5 RCU per 4 KB (eventually consistent GSI read); the minimum is one page
holding exactly the items the walk consumes. Item sizes follow DynamoDB's rules (attribute name
lengths + value sizes, numbers ≈ 1 byte per 2 significant digits + 1). Round trips: an
uncontended trade is one Query and one TransactWriteItems; a quote is one Query. Write capacity:
a transactional write costs 2 WCU per started KB per item (each filled order and the trade
record); DynamoDB Local's TransactWriteItems accounting does not follow that rule (it reports 4
WCU for one 60-byte Put), so write minima are computed here and Local's figures shown beside.

Figures only, no verdicts (bench/README.md reads them against the targets); every client thread
shares the machine's CPUs with DynamoDB Local's JVM, so the concurrent figures say as much about
the machine as about the code. The last line is a JSON summary. Ctrl-C, SIGTERM and SIGHUP stop
the clients and DynamoDB Local.

    uv run python -m bench.trading [--orders N] [--seconds S]
    uv run python -m bench.trading --hot-book [bench.hot_book options]

`--hot-book` measures over HTTP instead: one hot book with group commit on and off, with one and
two `om api` processes, in one run (`bench/hot_book.py`).
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import math
import random
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench import hot_book
from bench.harness import (
    dynamodb_local,
    load_average,
    local_settings,
    machine,
    mean,
    percentile,
    print_machine,
    print_summary,
    print_table,
    progress,
    run_benchmark,
    utc_stamp,
)
from services.api.main import create_app
from services.api.settings import ApiSettings
from shared import keys
from shared.book import BookWalk, RestingOrder, walk_book
from shared.codecs import order_from_item, order_to_item, trade_from_item, trade_to_item
from shared.models import Order, OrderDraft, Side, Trade
from shared.repository import OrderRepository, ensure_table, make_clients
from shared.trading import TradeDesk

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

TABLE_NAME = "om-bench-trading"
ACCOUNT = "bench"
PACKAGES = ("boto3", "botocore")
POOL_CONNECTIONS = 64  # ≥ 48: the 40-client runs must never wait for a pooled connection

SMALL_AMOUNTS = (1, 5)  # trade / quote sizes and resting order sizes, inclusive
PRICE_LEVELS = tuple(Decimal("100.00") + Decimal("0.25") * level for level in range(10))
SWEEP_AMOUNTS = (1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 233, 377, 610, 987, 1597)
CONTENDED = (8, 40)
SEED_THREADS = 16
WARMUP_SECONDS = 4.0

READ_UNIT = 4096
WRITE_UNIT = 1024
GSI_READ_UNITS = 0.5  # per 4 KB, eventually consistent
TRANSACTIONAL_WRITE_UNITS = 2.0  # per 1 KB per item
CAPACITY_OPERATIONS = frozenset(
    {
        "GetItem",
        "PutItem",
        "UpdateItem",
        "DeleteItem",
        "Query",
        "Scan",
        "TransactWriteItems",
        "TransactGetItems",
        "BatchGetItem",
        "BatchWriteItem",
    }
)
READ_OPERATIONS = frozenset({"GetItem", "Query", "Scan", "TransactGetItems", "BatchGetItem"})


# --- DynamoDB item sizes and capacity rules ---------------------------------------------------


def _number_size(text: str) -> int:
    digits = text.lstrip("-").replace(".", "").lstrip("0").rstrip("0")
    return (len(digits) + 1) // 2 + 1


def value_size(value: Mapping[str, Any]) -> int:
    """Bytes DynamoDB counts for one attribute value (its name not included)."""
    ((kind, content),) = value.items()
    if kind == "S":
        return len(content.encode())
    if kind == "N":
        return _number_size(content)
    if kind == "B":
        return len(content)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(member.encode()) for member in content)
    if kind == "NS":
        return sum(_number_size(member) for member in content)
    if kind == "BS":
        return sum(len(member) for member in content)
    if kind == "L":
        return 3 + sum(1 + value_size(member) for member in content)
    if kind == "M":
        return 3 + sum(1 + len(name.encode()) + value_size(v) for name, v in content.items())
    raise ValueError(f"unknown attribute type {kind}")


def item_size(item: Mapping[str, Mapping[str, Any]]) -> int:
    """Bytes DynamoDB counts for an item: attribute names plus values."""
    return sum(len(name.encode()) + value_size(value) for name, value in item.items())


def gsi_read_units(sizes: Iterable[int]) -> float:
    """RCU of one eventually consistent Query page reading items of `sizes` bytes."""
    return GSI_READ_UNITS * max(1, math.ceil(sum(sizes) / READ_UNIT))


def transactional_write_units(size: int) -> float:
    """WCU of one item written inside a transaction."""
    return TRANSACTIONAL_WRITE_UNITS * max(1, math.ceil(size / WRITE_UNIT))


# --- counting calls with botocore hooks -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Call:
    """One DynamoDB API call as the client saw it (after botocore's own retries)."""

    operation: str
    error: str | None
    reasons: tuple[str, ...]
    units: Mapping[str, float]
    item_ids: tuple[int, ...]
    latency_ns: int


@dataclass
class Tally:
    """The calls and HTTP round trips one quote or trade made."""

    round_trips: Counter[str] = field(default_factory=Counter)
    calls: list[Call] = field(default_factory=list)

    def count(self, operation: str) -> int:
        """Calls of `operation`."""
        return sum(1 for call in self.calls if call.operation == operation)

    def units(self, key: str) -> float:
        """Σ consumed capacity under `key` (`read`, `write`, `write.table`, `write.index`…)."""
        return sum(call.units.get(key, 0.0) for call in self.calls)


def _units(operation: str, consumed: Any) -> dict[str, float]:
    entries = consumed if isinstance(consumed, list) else [consumed] if consumed else []
    kind = "read" if operation in READ_OPERATIONS else "write"
    units: dict[str, float] = dict.fromkeys((kind, f"{kind}.table", f"{kind}.index"), 0.0)
    for entry in entries:
        units[kind] += float(entry.get("CapacityUnits", 0.0))
        units[f"{kind}.table"] += float(entry.get("Table", {}).get("CapacityUnits", 0.0))
        for index in entry.get("GlobalSecondaryIndexes", {}).values():
            units[f"{kind}.index"] += float(index.get("CapacityUnits", 0.0))
    return units


class CallMeter:
    """botocore hooks that tally each thread's DynamoDB calls; production code is untouched."""

    def __init__(self, client: DynamoDBClient) -> None:
        self._local = threading.local()
        self.capacity_missing: Counter[str] = Counter()
        events = client.meta.events
        events.register("provide-client-params.dynamodb", self._ask_for_capacity)
        events.register("before-call.dynamodb", self._start_call)
        events.register("before-send.dynamodb", self._count_round_trip)
        events.register("after-call.dynamodb", self._record_call)

    def begin(self) -> Tally:
        """Start tallying this thread's calls."""
        tally = Tally()
        self._local.tally = tally
        return tally

    def end(self) -> None:
        """Stop tallying this thread's calls."""
        self._local.tally = None

    def _current(self) -> Tally | None:
        tally: Tally | None = getattr(self._local, "tally", None)
        return tally

    def _ask_for_capacity(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        if model.name in CAPACITY_OPERATIONS:
            params.setdefault("ReturnConsumedCapacity", "INDEXES")

    def _start_call(self, **_: Any) -> None:
        # Must return None, like before-send: a value would short-circuit the call.
        self._local.call_started = time.perf_counter_ns()

    def _count_round_trip(self, event_name: str, **_: Any) -> None:
        # Must return None: a value returned from before-send would replace the HTTP response.
        tally = self._current()
        if tally is not None:
            tally.round_trips[event_name.rsplit(".", 1)[-1]] += 1

    def _record_call(self, parsed: dict[str, Any], model: Any, **_: Any) -> None:
        tally = self._current()
        if tally is None:
            return
        latency = time.perf_counter_ns() - getattr(self._local, "call_started", 0)
        operation = str(model.name)
        error = parsed.get("Error", {}).get("Code")
        consumed = parsed.get("ConsumedCapacity")
        if consumed is None and error is None and operation in CAPACITY_OPERATIONS:
            self.capacity_missing[operation] += 1
        items = parsed.get("Items", []) if operation == "Query" else []
        tally.calls.append(
            Call(
                operation=operation,
                error=error,
                reasons=tuple(
                    str(reason.get("Code", "?")) for reason in parsed.get("CancellationReasons", [])
                ),
                units=_units(operation, consumed),
                item_ids=tuple(int(item["id"]["N"]) for item in items if "id" in item),
                latency_ns=latency,
            )
        )


# --- books ------------------------------------------------------------------------------------


@dataclass
class Book:
    """One seeded (symbol, side) book and what the bench knows of its orders."""

    symbol: str
    side: Side
    seeded: dict[int, Order]

    @property
    def total(self) -> int:
        """Σ amount as seeded."""
        return sum(order.amount for order in self.seeded.values())

    def walk_order(self, orders: Iterable[Order] | None = None) -> list[Order]:
        """Orders in the order the GSI1 Query returns them."""
        chosen = self.seeded.values() if orders is None else orders
        return sorted(chosen, key=lambda o: keys.book_sk(o.side, o.price, o.sequence))


def resting(order: Order) -> RestingOrder:
    """What the walk needs of an order."""
    return RestingOrder(order.id, order.amount, order.price, order.version, order.token)


def seed_book(
    repository: OrderRepository, symbol: str, side: Side, count: int, first_id: int, seed: int
) -> Book:
    """`count` orders at random price levels and amounts, created through `OrderRepository`."""
    rng = random.Random(seed)
    drafts = [
        OrderDraft(
            id=first_id + index,
            symbol=symbol,
            side=side,
            amount=rng.randint(*SMALL_AMOUNTS),
            price=rng.choice(PRICE_LEVELS),
        )
        for index in range(count)
    ]
    with ThreadPoolExecutor(SEED_THREADS) as pool:
        created = list(pool.map(lambda draft: repository.create(draft, account=ACCOUNT), drafts))
    return Book(symbol, side, {order.id: order for order in created})


# --- running clients --------------------------------------------------------------------------


@dataclass
class Op:
    """One quote or trade: its latency, its calls and what it returned."""

    amount: int
    latency_ns: int
    tally: Tally
    error: str | None = None
    successful: bool = False
    price: Decimal | None = None
    reason: str | None = None
    trade: Trade | None = None


@dataclass
class Run:
    """Every op of one scenario, in per-client issue order."""

    name: str
    kind: str
    clients: int
    seconds: float
    per_client: list[list[Op]]
    stopped_early: bool = False

    @property
    def ops(self) -> list[Op]:
        """All ops."""
        return [op for ops in self.per_client for op in ops]


class Ledger:
    """Committed amount so far, so trade clients stop before their book could run short."""

    def __init__(self, total: int, reserve: int) -> None:
        self._lock = threading.Lock()
        self._left = total
        self._reserve = reserve
        self.low = threading.Event()

    def may_trade(self) -> bool:
        """False once what is left is within the reserve the clients could take at once."""
        with self._lock:
            if self._left < self._reserve:
                self.low.set()
            return not self.low.is_set()

    def took(self, amount: int) -> None:
        """A trade of `amount` committed."""
        with self._lock:
            self._left -= amount


Work = Callable[[random.Random], Op | None]


def run_clients(
    name: str, kind: str, clients: int, seconds: float, work: Work, stop: threading.Event
) -> Run:
    """`clients` threads calling `work` back to back for `seconds` (or until it returns None)."""
    per_client: list[list[Op]] = [[] for _ in range(clients)]
    start = threading.Barrier(clients + 1)
    deadline = [0.0]
    finished_at = [0.0] * clients

    def client(index: int) -> None:
        rng = random.Random(f"{name}-{index}")
        ops = per_client[index]
        start.wait()
        while not stop.is_set() and time.perf_counter() < deadline[0]:
            op = work(rng)
            if op is None:
                break
            ops.append(op)
        finished_at[index] = time.perf_counter()

    threads = [
        threading.Thread(target=client, args=(index,), name=f"{name}-{index}", daemon=True)
        for index in range(clients)
    ]
    for thread in threads:
        thread.start()
    began = time.perf_counter()
    deadline[0] = began + seconds
    start.wait()
    for thread in threads:
        while thread.is_alive():  # join in slices so Ctrl-C is seen at once
            thread.join(0.2)
    wall = max(finished_at) - began
    return Run(name, kind, clients, wall, per_client)


def quote_work(desk: TradeDesk, meter: CallMeter, book: Book) -> Work:
    """One quote of 1-5 on `book`."""

    def work(rng: random.Random) -> Op:
        amount = rng.randint(*SMALL_AMOUNTS)
        tally = meter.begin()
        began = time.perf_counter_ns()
        try:
            quote = desk.quote(book.symbol, book.side, amount)
        except Exception as error:
            return Op(amount, time.perf_counter_ns() - began, tally, error=type(error).__name__)
        finally:
            meter.end()
        return Op(
            amount,
            time.perf_counter_ns() - began,
            tally,
            successful=quote.successful,
            price=quote.price,
            reason=quote.reason,
        )

    return work


def trade_work(
    desk: TradeDesk, meter: CallMeter, book: Book, ledger: Ledger, *, idempotent: bool = False
) -> Work:
    """One trade of 1-5 on `book`, until the ledger says the book is getting low."""

    def work(rng: random.Random) -> Op | None:
        if not ledger.may_trade():
            return None
        amount = rng.randint(*SMALL_AMOUNTS)
        key = uuid.uuid4().hex if idempotent else None
        tally = meter.begin()
        began = time.perf_counter_ns()
        try:
            outcome = desk.trade(
                book.symbol, book.side, amount, account=ACCOUNT, idempotency_key=key
            )
        except Exception as error:
            return Op(amount, time.perf_counter_ns() - began, tally, error=type(error).__name__)
        finally:
            meter.end()
        latency = time.perf_counter_ns() - began
        if outcome.trade is not None:
            ledger.took(outcome.trade.amount)
        return Op(
            amount,
            latency,
            tally,
            successful=outcome.successful,
            reason=outcome.reason,
            trade=outcome.trade,
        )

    return work


def trade_run(
    name: str,
    desk: TradeDesk,
    meter: CallMeter,
    book: Book,
    clients: int,
    seconds: float,
    stop: threading.Event,
    *,
    idempotent: bool = False,
) -> Run:
    """Trades by `clients` threads on one book."""
    ledger = Ledger(book.total, reserve=2 * clients * SMALL_AMOUNTS[1])
    work = trade_work(desk, meter, book, ledger, idempotent=idempotent)
    run = run_clients(name, "trade", clients, seconds, work, stop)
    run.stopped_early = ledger.low.is_set()
    return run


# --- figures ----------------------------------------------------------------------------------


def conflicts(op: Op) -> int:
    """Cancelled transactions a trade went through before its outcome."""
    return sum(
        1
        for call in op.tally.calls
        if call.operation == "TransactWriteItems" and call.error == "TransactionCanceledException"
    )


def run_figures(run: Run) -> dict[str, Any]:
    """Throughput, latency, round trips, retries and failures of one run."""
    ops = run.ops
    if not ops:
        return {"ops": 0}
    latencies = [op.latency_ns for op in ops]
    round_trips = [sum(op.tally.round_trips.values()) for op in ops]
    by_operation: Counter[str] = Counter()
    for op in ops:
        by_operation.update(op.tally.round_trips)
    call_latencies: dict[str, list[int]] = {}
    for op in ops:
        for call in op.tally.calls:
            call_latencies.setdefault(call.operation, []).append(call.latency_ns)
    in_calls = sum(sum(taken) for taken in call_latencies.values())
    errors = Counter(op.error for op in ops if op.error)
    unsuccessful = Counter(op.reason for op in ops if op.error is None and not op.successful)
    figures: dict[str, Any] = {
        "clients": run.clients,
        "seconds": round(run.seconds, 2),
        "ops": len(ops),
        "ops_per_second": round(len(ops) / run.seconds, 1),
        "p50_ms": round(percentile(latencies, 50) / 1e6, 3),
        "p99_ms": round(percentile(latencies, 99) / 1e6, 3),
        "round_trips_per_op": round(mean(round_trips), 3),
        "round_trips_max": max(round_trips),
        "round_trips_by_operation": {
            name: round(count / len(ops), 3) for name, count in sorted(by_operation.items())
        },
        "call_p50_ms": {
            name: round(percentile(taken, 50) / 1e6, 3)
            for name, taken in sorted(call_latencies.items())
        },
        # The rest of an op's time is planning in Python and, for trades, backoff sleeps.
        "share_of_time_in_calls": round(in_calls / sum(latencies), 3),
        "rcu_per_op_local": round(mean([op.tally.units("read") for op in ops]), 3),
        "client_visible_failures": sum(errors.values()) + sum(unsuccessful.values()),
        "exceptions": dict(errors),
        "unsuccessful": {str(reason): count for reason, count in unsuccessful.items()},
    }
    if run.kind == "trade":
        retries = [conflicts(op) for op in ops]
        reasons: Counter[str] = Counter()
        for op in ops:
            for call in op.tally.calls:
                if call.error == "TransactionCanceledException":
                    reasons.update(code for code in call.reasons if code != "None")
        filled = [len(op.trade.fills) for op in ops if op.trade is not None]
        figures |= {
            "conflict_retries_per_trade": round(mean(retries), 3),
            "conflict_retries_p99": round(percentile(retries, 99), 2),
            "conflict_retries_max": max(retries),
            "trades_with_a_retry": sum(1 for r in retries if r),
            "cancellation_reasons": dict(reasons),
            "wcu_per_trade_local": round(mean([op.tally.units("write") for op in ops]), 3),
            "orders_per_trade": round(mean(filled), 2),
            "orders_per_trade_max": max(filled, default=0),
            "stopped_early_book_low": run.stopped_early,
        }
    return figures


def quote_checks(run: Run, book: Book) -> dict[str, Any]:
    """Prices against the pure walk over the seeded book, and read capacity against the minimum."""
    ordered = [resting(order) for order in book.walk_order()]
    walks = {amount: walk_book(ordered, amount) for amount in {op.amount for op in run.ops}}
    sizes = {order_id: item_size(order_to_item(order)) for order_id, order in book.seeded.items()}
    wrong = 0
    local = rule = minimum = 0.0
    worst = 0.0
    for op in run.ops:
        walk = walks[op.amount]
        if op.error is None and op.price != walk.price:
            wrong += 1
        capacity = read_capacity(op.tally, walk, sizes)
        local += capacity["local"]
        rule += capacity["rule"]
        minimum += capacity["minimum"]
        worst = max(worst, capacity["local"] / capacity["minimum"])
    return {
        "wrong_prices": wrong,
        "rcu_local": round(local / len(run.ops), 4),
        "rcu_aws_rule": round(rule / len(run.ops), 4),
        "rcu_minimum": round(minimum / len(run.ops), 4),
        "ratio": round(local / minimum, 3),
        "ratio_worst_quote": round(worst, 3),
    }


def read_capacity(tally: Tally, walk: BookWalk, sizes: Mapping[int, int]) -> dict[str, float]:
    """Local-reported RCU, the same pages priced by AWS's rule, and the walk's minimum."""
    pages = [call for call in tally.calls if call.operation == "Query"]
    return {
        "local": tally.units("read"),
        "rule": sum(gsi_read_units(sizes[i] for i in page.item_ids) for page in pages),
        "minimum": gsi_read_units(sizes[fill.order_id] for fill in walk.fills),
        "pages": len(pages),
        "items_read": sum(len(page.item_ids) for page in pages),
        "items_walked": len(walk.fills),
    }


def quote_sweep(desk: TradeDesk, meter: CallMeter, book: Book) -> list[dict[str, Any]]:
    """One quote per amount in SWEEP_AMOUNTS: pages, items read vs walked, RCU vs minimum."""
    ordered = [resting(order) for order in book.walk_order()]
    sizes = {order_id: item_size(order_to_item(order)) for order_id, order in book.seeded.items()}
    rows = []
    for amount in SWEEP_AMOUNTS:
        if amount > book.total:
            break
        walk = walk_book(ordered, amount)
        tally = meter.begin()
        try:
            quote = desk.quote(book.symbol, book.side, amount)
        finally:
            meter.end()
        capacity = read_capacity(tally, walk, sizes)
        rows.append(
            {
                "amount": amount,
                "price_ok": quote.price == walk.price,
                "round_trips": sum(tally.round_trips.values()),
                **{k: int(v) for k, v in capacity.items() if k in ("pages", "items_read")},
                "items_walked": len(walk.fills),
                "walked_bytes": sum(sizes[f.order_id] for f in walk.fills),
                "rcu_local": capacity["local"],
                "rcu_aws_rule": capacity["rule"],
                "rcu_minimum": capacity["minimum"],
                "ratio": round(capacity["local"] / capacity["minimum"], 3),
            }
        )
    return rows


def uncontended_trade_capacity(run: Run, book: Book) -> dict[str, Any]:
    """Replays a one-client run on the seeded book: each trade's capacity vs its minimum."""
    orders = dict(book.seeded)
    sizes = {order_id: item_size(order_to_item(order)) for order_id, order in orders.items()}
    # Fills change amounts and versions, never book keys: the walk order stays as seeded.
    ordered = [order.id for order in book.walk_order()]
    head = 0
    local_read = rule_read = min_read = 0.0
    local_write = local_write_table = local_write_index = min_write_table = 0.0
    index_entries = replay_mismatches = 0
    worst = 0.0
    trades = 0
    for op in run.per_client[0]:
        if op.trade is None:
            continue
        trades += 1
        while ordered[head] not in orders:
            head += 1
        live = (resting(orders[i]) for i in itertools.islice(ordered, head, None) if i in orders)
        walk = walk_book(live, op.trade.amount)
        planned = [(f.order_id, f.amount) for f in walk.fills]
        if planned != [(f.order_id, f.amount) for f in op.trade.fills]:
            replay_mismatches += 1  # the replayed book is not what the trade saw
        read = read_capacity(op.tally, walk, sizes)
        local_read += read["local"]
        rule_read += read["rule"]
        min_read += read["minimum"]
        worst = max(worst, read["local"] / read["minimum"])
        write = transactional_write_units(item_size(trade_to_item(op.trade)))
        for fill in op.trade.fills:
            before = orders[fill.order_id]
            left = before.amount - fill.amount
            after = replace(before, amount=left, version=before.version + 1)
            after_size = item_size(order_to_item(after))
            write += transactional_write_units(max(sizes[fill.order_id], after_size))
            index_entries += 1
            if left:
                orders[fill.order_id] = after
                sizes[fill.order_id] = after_size
            else:
                del orders[fill.order_id]
        min_write_table += write
        local_write += op.tally.units("write")
        local_write_table += op.tally.units("write.table")
        local_write_index += op.tally.units("write.index")
    if not trades:
        return {}
    return {
        "trades": trades,
        "replay_mismatches": replay_mismatches,
        "rcu_local": round(local_read / trades, 4),
        "rcu_aws_rule": round(rule_read / trades, 4),
        "rcu_minimum": round(min_read / trades, 4),
        "rcu_ratio": round(local_read / min_read, 3),
        "rcu_ratio_worst_trade": round(worst, 3),
        "wcu_table_minimum_computed": round(min_write_table / trades, 3),
        "gsi_entries_written": round(index_entries / trades, 3),
        "wcu_local": round(local_write / trades, 3),
        "wcu_table_local": round(local_write_table / trades, 3),
        "wcu_index_local": round(local_write_index / trades, 3),
    }


# --- end-of-run correctness -------------------------------------------------------------------


def scan_table(client: DynamoDBClient) -> tuple[dict[str, dict[int, Order]], dict[str, set[str]]]:
    """Every order (by symbol) and trade id (by symbol) in the table, read consistently."""
    orders: dict[str, dict[int, Order]] = {}
    trades: dict[str, set[str]] = {}
    request: dict[str, Any] = {"TableName": TABLE_NAME, "ConsistentRead": True}
    while True:
        page = client.scan(**request)
        for item in page.get("Items", []):
            entity = item.get("entity", {}).get("S")
            if entity == keys.ORDER_ENTITY:
                order = order_from_item(item)
                orders.setdefault(order.symbol, {})[order.id] = order
            elif entity == keys.TRADE_ENTITY:
                trade = trade_from_item(item)
                trades.setdefault(trade.symbol, set()).add(trade.id)
        if "LastEvaluatedKey" not in page:
            return orders, trades
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def book_checks(
    run: Run, book: Book, remaining: Mapping[int, Order], recorded: set[str]
) -> dict[str, Any]:
    """Seeded − remaining per order equals the fills clients were told about; no stray records."""
    told: Counter[int] = Counter()
    told_total = 0
    told_ids: set[str] = set()
    for op in run.ops:
        if op.trade is not None:
            told_total += op.trade.amount
            told_ids.add(op.trade.id)
            for fill in op.trade.fills:
                told[fill.order_id] += fill.amount
    taken_total = book.total - sum(order.amount for order in remaining.values())
    mismatched = [
        order_id
        for order_id, order in book.seeded.items()
        if order.amount - (remaining[order_id].amount if order_id in remaining else 0)
        != told[order_id]
    ]
    return {
        "filled_told": told_total,
        "book_decrease": taken_total,
        "orders_mismatched": len(mismatched),
        "trade_records": len(recorded),
        "records_without_a_told_trade": len(recorded - told_ids),
        "told_trades_without_record": len(told_ids - recorded),
    }


# --- the machine and the report ---------------------------------------------------------------


def checked(name: str, summary: dict[str, Any]) -> str:
    """What the end-of-run checks found for one scenario, in figures."""
    if name in summary["correctness"]:
        check = summary["correctness"][name]
        records_off = check["records_without_a_told_trade"] + check["told_trades_without_record"]
        return f"{check['orders_mismatched']} orders off, {records_off} records off"
    if name in summary["quote_prices"]:
        return f"{summary['quote_prices'][name]['wrong_prices']} wrong prices"
    return ""


def print_report(summary: dict[str, Any]) -> None:
    """The human-readable tables."""
    print()
    print("TradeDesk (as create_app builds it), in process, DynamoDB Local; 1-5 per quote/trade")
    rows = []
    for name, figures in summary["scenarios"].items():
        if not figures.get("ops"):
            rows.append((name, *[None] * 10, "no ops"))
            continue
        retries = figures.get("conflict_retries_per_trade")
        note = checked(name, summary)
        if figures.get("stopped_early_book_low"):
            note += " (stopped: book low)"
        rows.append(
            (
                name,
                figures["clients"],
                figures["ops"],
                f"{figures['ops_per_second']:.1f}",
                f"{figures['p50_ms']:.2f}",
                f"{figures['p99_ms']:.2f}",
                f"{figures['round_trips_per_op']:.2f}",
                f"{figures['rcu_per_op_local']:.2f}",
                None if retries is None else f"{retries:.2f}",
                figures.get("conflict_retries_max"),
                figures["client_visible_failures"],
                note,
            )
        )
    print_table(
        (
            "scenario",
            "clients",
            "ops",
            "ops/s",
            "p50 ms",
            "p99 ms",
            "RT/op",
            "RCU/op",
            "retry/tr",
            "max",
            "fail",
            "checked",
        ),
        rows,
        align="<" + ">" * 10 + "<",
    )
    print()
    print("round trips by operation per op; p50 of each call; share of op time spent in calls:")
    for name, figures in summary["scenarios"].items():
        if figures.get("ops"):
            parts = ", ".join(f"{k} {v}" for k, v in figures["round_trips_by_operation"].items())
            calls = ", ".join(f"{k} {v}" for k, v in figures["call_p50_ms"].items())
            extra = f"   call p50 ms: {calls}; {figures['share_of_time_in_calls']:.0%} in calls"
            if figures.get("cancellation_reasons"):
                extra += f"; cancellations {figures['cancellation_reasons']}"
            print(f"  {name:<16}{parts}{extra}")
    print()
    quote = summary["quote_capacity"]
    print(
        "quote read capacity (1 client, 1-5): per quote "
        f"Local {quote['rcu_local']} RCU, AWS rule on the pages read {quote['rcu_aws_rule']}, "
        f"minimum (items walked) {quote['rcu_minimum']} → ratio {quote['ratio']} "
        f"(worst quote {quote['ratio_worst_quote']})"
    )
    print()
    print(
        "quote sweep (one quote per amount; minimum = one page holding exactly the walked items):"
    )
    print_table(
        (
            "amount",
            "RT",
            "pages",
            "read",
            "walked",
            "bytes",
            "RCU",
            "rule",
            "min",
            "ratio",
            "price = walk",
        ),
        [
            (
                row["amount"],
                row["round_trips"],
                row["pages"],
                row["items_read"],
                row["items_walked"],
                row["walked_bytes"],
                row["rcu_local"],
                row["rcu_aws_rule"],
                row["rcu_minimum"],
                row["ratio"],
                "yes" if row["price_ok"] else "no",
            )
            for row in summary["quote_sweep"]
        ],
        align=">" * 11,
        indent="  ",
    )
    trade = summary["trade_capacity"]
    if trade:
        print()
        print(
            f"uncontended trade capacity (per trade, {trade['trades']} trades): "
            f"RCU Local {trade['rcu_local']} / minimum {trade['rcu_minimum']} "
            f"(ratio {trade['rcu_ratio']}); WCU table minimum (computed, 2/KB/item) "
            f"{trade['wcu_table_minimum_computed']}, Local reports table "
            f"{trade['wcu_table_local']} + GSI {trade['wcu_index_local']} "
            f"for {trade['gsi_entries_written']} index entries "
            f"(replayed plans differing from the trades: {trade['replay_mismatches']})"
        )
    print()
    print("correctness (consistent Scan after the runs):")
    for name, check in summary["correctness"].items():
        print(
            f"  {name:<16}filled (told clients) {check['filled_told']}, book decrease "
            f"{check['book_decrease']}, orders mismatched {check['orders_mismatched']}, "
            f"records {check['trade_records']} (stray {check['records_without_a_told_trade']}, "
            f"missing {check['told_trades_without_record']})"
        )
    print()
    print("headline figures (bench/README.md reads them against the targets):")
    headline = summary["headline"]
    print(
        "  uncontended trade round trips: "
        f"{headline['uncontended_trade_round_trips']['per_trade']} per trade, "
        f"max {headline['uncontended_trade_round_trips']['max']}"
    )
    ratio = headline["quote_rcu_over_walked_items"]
    print(
        f"  quote RCU / RCU of the walked items: {ratio['mix']} (1-5 mix; worst quote "
        f"{ratio['worst_quote']}), sweep worst {ratio['sweep_worst']}"
    )
    contended = headline["contended"]
    print(
        f"  client-visible failures at {contended['clients']} clients: "
        f"{contended['client_visible_failures']} ({checked(contended['scenario'], summary)})"
    )
    if summary["capacity_missing"]:
        print(f"\ncalls without ConsumedCapacity: {summary['capacity_missing']}")
    print()
    print_machine(summary["machine"])
    load = summary["load_average_1m"]
    print(f"  1-minute load average: {load['start']} at start, {load['end']} at end")


# --- main -------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.trading", description=(__doc__ or "").split("\n", 1)[0]
    )
    parser.add_argument(
        "--orders",
        type=int,
        default=3000,
        help="resting orders in the one-client trade book; the other books get half",
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each timed run")
    args = parser.parse_args(argv)
    if args.orders < 400 or args.seconds <= 0:
        parser.error("--orders ≥ 400, --seconds > 0")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the report; the last line is the JSON summary."""
    given = sys.argv[1:] if argv is None else argv
    if given[:1] == ["--hot-book"]:
        return hot_book.main(given[1:])
    args = parse_args(argv)
    started = datetime.now(UTC)
    load_at_start = load_average()
    stop = threading.Event()
    runs: dict[str, Run] = {}
    books: dict[str, Book] = {}
    with contextlib.ExitStack() as stack:
        logs = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="om-bench-")))
        progress("starting DynamoDB Local …")
        dynamodb = stack.enter_context(dynamodb_local(logs / "dynamodb.log"))
        # Exit callbacks run last-in first-out: the clients stop before DynamoDB Local does.
        stack.callback(stop.set)
        settings = local_settings(
            ApiSettings,
            table_name=TABLE_NAME,
            dynamodb_endpoint_url=dynamodb.endpoint_url,
            max_pool_connections=POOL_CONNECTIONS,
        )
        clients = make_clients(settings)
        client = clients.dynamodb
        ensure_table(client, TABLE_NAME)
        meter = CallMeter(client)
        desk: TradeDesk = create_app(settings, clients=clients).state.desk
        repository = OrderRepository(client, TABLE_NAME)

        # The one-client trade run is the fastest consumer; the others get half as deep a book.
        depth = {"trade_1": args.orders, "warmup": args.orders // 4}
        sides = {"quotes": Side.BUY}
        names = ["warmup", "quotes", *(f"trade_{n}" for n in (1, *CONTENDED)), "trade_1_idem"]
        progress(f"seeding {len(names)} books ({args.orders} orders in the deepest) …")
        for number, name in enumerate(names, start=1):
            books[name] = seed_book(
                repository,
                name.upper().replace("_", "-"),
                sides.get(name, Side.SELL),
                depth.get(name, args.orders // 2),
                first_id=number * 1_000_000,
                seed=number,
            )

        progress(f"warming up for {WARMUP_SECONDS:.0f} s …")
        warm = books["warmup"]
        run_clients(
            "warmup",
            "trade",
            8,
            WARMUP_SECONDS,
            trade_work(desk, meter, warm, Ledger(warm.total, 2 * 8 * SMALL_AMOUNTS[1])),
            stop,
        )
        run_clients("warmup-q", "quote", 8, WARMUP_SECONDS / 2, quote_work(desk, meter, warm), stop)

        for clients_count in (1, *CONTENDED):
            name = f"quote_{clients_count}"
            progress(f"{name}: {args.seconds:.0f} s …")
            work = quote_work(desk, meter, books["quotes"])
            runs[name] = run_clients(name, "quote", clients_count, args.seconds, work, stop)
        progress("quote sweep …")
        sweep = quote_sweep(desk, meter, books["quotes"])
        for clients_count in (1, *CONTENDED):
            name = f"trade_{clients_count}"
            progress(f"{name}: {args.seconds:.0f} s …")
            runs[name] = trade_run(
                name, desk, meter, books[name], clients_count, args.seconds, stop
            )
        name = "trade_1_idem"
        progress(f"{name}: {args.seconds / 2:.0f} s …")
        runs[name] = trade_run(
            name, desk, meter, books[name], 1, args.seconds / 2, stop, idempotent=True
        )
        progress("checking the books …")
        remaining, recorded = scan_table(client)

    scenarios_out = {name: run_figures(run) for name, run in runs.items()}
    correctness = {
        name: book_checks(
            run,
            books[name],
            remaining.get(books[name].symbol, {}),
            recorded.get(books[name].symbol, set()),
        )
        for name, run in runs.items()
        if run.kind == "trade"
    }
    quote_prices = {
        name: {"wrong_prices": quote_checks(run, books["quotes"])["wrong_prices"]}
        for name, run in runs.items()
        if run.kind == "quote"
    }
    quote_capacity = quote_checks(runs["quote_1"], books["quotes"])
    trade_capacity = uncontended_trade_capacity(runs["trade_1"], books["trade_1"])
    contended = f"trade_{CONTENDED[-1]}"
    headline = {
        "uncontended_trade_round_trips": {
            "per_trade": scenarios_out["trade_1"]["round_trips_per_op"],
            "max": scenarios_out["trade_1"]["round_trips_max"],
        },
        "quote_rcu_over_walked_items": {
            "mix": quote_capacity["ratio"],
            "worst_quote": quote_capacity["ratio_worst_quote"],
            "sweep_worst": max(row["ratio"] for row in sweep),
        },
        "contended": {
            "scenario": contended,
            "clients": CONTENDED[-1],
            "client_visible_failures": scenarios_out[contended]["client_visible_failures"],
        },
    }
    summary: dict[str, Any] = {
        "benchmark": "bench/trading.py",
        "date": utc_stamp(started),
        "orders_per_book": args.orders,
        "seconds_per_run": args.seconds,
        "measured": "TradeDesk built by create_app, in process; one shared boto3 client",
        "scenarios": scenarios_out,
        "quote_prices": quote_prices,
        "quote_capacity": quote_capacity,
        "quote_sweep": sweep,
        "trade_capacity": trade_capacity,
        "correctness": correctness,
        "headline": headline,
        "capacity_missing": dict(meter.capacity_missing),
        "computed_not_measured": [
            "RCU minimum (walked items, DynamoDB size rules)",
            "rcu_aws_rule (pages read, priced by AWS's rule)",
            "WCU table minimum (transactional 2 WCU/KB/item)",
        ],
        "machine": machine(PACKAGES),
        # Other work on the machine skews every figure; the 1-minute load says how much there was.
        "load_average_1m": {
            "start": load_at_start,
            "end": load_average(),
        },
    }
    print_report(summary)
    print_summary(summary)
    return 0


if __name__ == "__main__":
    run_benchmark(main, stopped="the clients and DynamoDB Local were stopped")
