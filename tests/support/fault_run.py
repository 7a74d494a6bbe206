"""A mixed concurrent workload against the API, and the checks that its answers were all true.

Used by the fault-injection test (a CI-sized run) and by `bench/faults.py` (the long run). Actors
share a request budget and run concurrently over HTTP:

* makers (two accounts) create orders on their own ids, read them, amend them with `If-Match`
  (the ETag of a read: the amount change is then known exactly), delete them with or without it;
* takers trade 1-5 lots on two books, half with an `Idempotency-Key`: a keyed trade answered 503
  is retried with the same key until it is answered, and every answered keyed trade is replayed
  once, which must return the first body;
* quoters price the books;
* one batch load adds orders of a third account.

Afterwards, with the faults off, `check` compares every answer with the table:

1. no 5xx but 503 (with Retry-After), never a 500;
2. every 200 trade has its record, with the same fills; every trade record was answered 200 to
   someone, or its request was answered "outcome unknown" naming it — none applied unseen, none
   applied twice (one record per request; a keyed request's answers all name the same trade);
3. conservation, per order: created (201, or loaded) + amend changes (200 PATCH) − fills (trade
   records) − removed (200 DELETE) = what rests at the end; orders touched by a request whose
   outcome stayed unknown (a 503 create/amend/delete) are counted apart, not checked;
4. no create of a fresh id answered 409, no amend/delete of an own order answered 404 unless its
   fills used it up, no 403 to an owner.
"""

from __future__ import annotations

import random
import re
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import httpx

BOOKS = ("FLT", "FLU")
PRICE_LEVELS = (Decimal(10), Decimal("10.5"), Decimal(11), Decimal(12))
MAKER_ACCOUNTS = ("alice", "bob")
LOADER_ACCOUNT = "loader"
TAKER_ACCOUNT = "taker"
LOADED_FIRST_ID = 900_000
_UNKNOWN_TRADE = re.compile(r"outcome of trade ([0-9a-f]{32}) is unknown")


@dataclass
class Answer:
    """One request and what the API answered."""

    actor: str
    method: str
    path: str
    status: int
    body: Any
    headers: dict[str, str]


@dataclass
class Observations:
    """Everything the actors learnt, for `check`."""

    answers: list[Answer] = field(default_factory=list)
    created: dict[int, int] = field(default_factory=dict)
    owners: dict[int, str] = field(default_factory=dict)
    adjustments: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    removed: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    unknown_orders: set[int] = field(default_factory=set)
    trades: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    unknown_trades: set[str] = field(default_factory=set)
    requests_by_key: dict[str, list[Any]] = field(default_factory=lambda: defaultdict(list))
    not_found: list[tuple[int, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, answer: Answer) -> None:
        """Keep one answer."""
        with self.lock:
            self.answers.append(answer)


class Budget:
    """A shared count of requests left."""

    def __init__(self, requests: int) -> None:
        self._left = requests
        self._lock = threading.Lock()

    def take(self) -> bool:
        """One request more, if any are left."""
        with self._lock:
            if self._left <= 0:
                return False
            self._left -= 1
            return True


class Actor:
    """One client: an account's key, an HTTP connection, a random stream."""

    def __init__(self, name: str, base_url: str, key: str, seed: int, seen: Observations) -> None:
        self.name = name
        self.http = httpx.Client(
            base_url=base_url, headers={"Authorization": f"Bearer {key}"}, timeout=30
        )
        self.random = random.Random(seed)
        self.seen = seen

    def call(self, method: str, path: str, **options: Any) -> Answer:
        """Send one request and record the answer."""
        response = self.http.request(method, path, **options)
        try:
            body: Any = response.json()
        except ValueError:
            body = response.text
        headers = dict(response.headers)
        answer = Answer(self.name, method, path, response.status_code, body, headers)
        self.seen.record(answer)
        return answer


def make_orders(actor: Actor, account: str, first_id: int, budget: Budget) -> None:
    """Create, read, amend with If-Match, delete: the maker's life on its own ids."""
    seen, rng = actor.seen, actor.random
    next_id = first_id
    mine: list[int] = []
    while budget.take():
        roll = rng.random()
        if roll < 0.45 or not mine:
            order_id, next_id = next_id, next_id + 1
            amount = rng.randint(1, 10)
            body = {
                "symbol": rng.choice(BOOKS),
                "side": 0,
                "amount": amount,
                # Every level is exact in binary, so the JSON number is the decimal itself.
                "price": float(rng.choice(PRICE_LEVELS)),
            }
            answer = actor.call("POST", f"/api/orders/{order_id}", json=body)
            with seen.lock:
                seen.owners[order_id] = account
                if answer.status == 201:
                    seen.created[order_id] = amount
                    mine.append(order_id)
                elif answer.status == 503:
                    seen.unknown_orders.add(order_id)
                    seen.created[order_id] = amount  # if it exists, it was created with this
            continue
        order_id = rng.choice(mine)
        read = actor.call("GET", f"/api/orders/{order_id}")
        if read.status == 404:
            mine.remove(order_id)  # used up by trades
            continue
        if read.status != 200 or not budget.take():
            continue
        if roll < 0.75:
            amount = rng.randint(1, 12)
            answer = actor.call(
                "PATCH",
                f"/api/orders/{order_id}",
                json={"amount": amount},
                headers={"If-Match": read.headers["etag"]},
            )
            with seen.lock:
                if answer.status == 200:
                    seen.adjustments[order_id] += amount - int(read.body["amount"])
                elif answer.status == 503:
                    seen.unknown_orders.add(order_id)
                elif answer.status == 404:
                    seen.not_found.append((order_id, "PATCH"))
            continue
        conditional = rng.random() < 0.5
        headers = {"If-Match": read.headers["etag"]} if conditional else {}
        answer = actor.call("DELETE", f"/api/orders/{order_id}", headers=headers)
        with seen.lock:
            if answer.status == 200:
                seen.removed[order_id] += int(answer.body["amount"])
                mine.remove(order_id)
            elif answer.status == 503:
                seen.unknown_orders.add(order_id)
                mine.remove(order_id)
            elif answer.status == 404:
                seen.not_found.append((order_id, "DELETE"))
                mine.remove(order_id)


def take_trades(actor: Actor, budget: Budget) -> None:
    """Trades of 1-5 lots; keyed ones are retried after a 503 and replayed once answered."""
    seen, rng = actor.seen, actor.random
    while budget.take():
        body = {"symbol": rng.choice(BOOKS), "side": 0, "amount": rng.randint(1, 5)}
        key = f"{actor.name}-{rng.getrandbits(64):016x}" if rng.random() < 0.5 else None
        headers = {"Idempotency-Key": key} if key else {}
        answer = actor.call("POST", "/api/trade", json=body, headers=headers)
        for _ in range(100):  # a keyed trade is asked again until its outcome is known
            if key is None or answer.status not in (409, 503):
                break
            time.sleep(0.2)  # a claim left by an unknown outcome frees itself within ~15 s
            answer = actor.call("POST", "/api/trade", json=body, headers=headers)
        _note_trade(seen, answer, key)
        if key is not None and answer.status == 200 and budget.take():
            replay = actor.call("POST", "/api/trade", json=body, headers=headers)
            _note_trade(seen, replay, key)


def _note_trade(seen: Observations, answer: Answer, key: str | None) -> None:
    with seen.lock:
        if answer.status == 200:
            if key is not None:
                seen.requests_by_key[key].append(answer.body)
            if answer.body.get("successful"):
                seen.trades[answer.body["tradeId"]].append(answer.body)
        elif answer.status == 503:
            unknown = _UNKNOWN_TRADE.search(str(answer.body.get("detail", "")))
            if unknown:
                seen.unknown_trades.add(unknown.group(1))


def quote(actor: Actor, budget: Budget) -> None:
    """Prices of the books."""
    rng = actor.random
    while budget.take():
        body = {"symbol": rng.choice(BOOKS), "side": 0, "amount": rng.randint(1, 30)}
        actor.call("POST", "/api/price", json=body)


def loaded_rows(count: int) -> list[tuple[int, int]]:
    """(order id, amount) of the batch load's rows."""
    return [(LOADED_FIRST_ID + index, index % 7 + 1) for index in range(count)]


def batch_load(
    base_url: str, key: str, rows: int, run_loader: Callable[[str], bool]
) -> Callable[[Observations], None]:
    """An actor that starts a load through the API, uploads `rows` orders and runs the loader
    (`run_loader(object_key)`, True once the load SUCCEEDED) until the load ends."""

    def load(seen: Observations) -> None:
        lines = ["orderId,symbol,side,amount,price"]
        lines += [
            f"{oid},{BOOKS[0]},Buy,{amount},{10 + oid % 3}" for oid, amount in loaded_rows(rows)
        ]
        http = httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {key}"})
        for _ in range(50):
            started = http.post("/api/orders/batch-load")
            if started.status_code == 200:
                break
            time.sleep(0.2)
        else:
            raise RuntimeError(f"no batch load could be started: {started.text}")
        upload = httpx.put(started.json()["preSignedUrl"], content="\n".join(lines).encode())
        if upload.status_code != 200:
            raise RuntimeError(f"upload refused: {upload.status_code}")
        for _ in range(20):  # a run that dies part-way is simply run again
            if run_loader(started.json()["objectKey"]):
                break
        else:
            raise RuntimeError("the batch load did not succeed in 20 runs")
        with seen.lock:
            for order_id, amount in loaded_rows(rows):
                seen.created[order_id] = amount
                seen.owners[order_id] = LOADER_ACCOUNT

    return load


@dataclass
class Workload:
    """How big the run is."""

    requests: int = 1000
    makers: int = 4
    takers: int = 6
    quoters: int = 1
    seed: int = 11


def run_workload(
    base_url: str,
    keys: dict[str, str],
    workload: Workload,
    *,
    extra: Callable[[Observations], None] | None = None,
) -> Observations:
    """Run every actor to the shared budget; `extra` runs alongside (e.g. a batch load)."""
    seen = Observations()
    budget = Budget(workload.requests)
    runs: list[tuple[Callable[..., None], tuple[Any, ...]]] = []
    for index in range(workload.makers):
        account = MAKER_ACCOUNTS[index % len(MAKER_ACCOUNTS)]
        maker = Actor(f"maker-{index}", base_url, keys[account], workload.seed + index, seen)
        runs.append((make_orders, (maker, account, 1 + index * 100_000, budget)))
    for index in range(workload.takers):
        seed = workload.seed + 100 + index
        taker = Actor(f"taker-{index}", base_url, keys[TAKER_ACCOUNT], seed, seen)
        runs.append((take_trades, (taker, budget)))
    for index in range(workload.quoters):
        seed = workload.seed + 200 + index
        quoter = Actor(f"quoter-{index}", base_url, keys[TAKER_ACCOUNT], seed, seen)
        runs.append((quote, (quoter, budget)))
    if extra is not None:
        runs.append((extra, (seen,)))
    threads = [threading.Thread(target=run, args=args, daemon=True) for run, args in runs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return seen


@dataclass(frozen=True)
class TableState:
    """What the table holds at the end: resting amounts and owners, and every trade record."""

    resting: dict[int, int]
    owners: dict[int, str]
    trades: dict[str, dict[str, Any]]


def check(seen: Observations, table: TableState) -> tuple[list[str], dict[str, int]]:
    """Every answer checked against the table; (problems, figures)."""
    problems: list[str] = []
    statuses = Counter(answer.status for answer in seen.answers)
    for answer in seen.answers:
        if answer.status >= 500 and answer.status != 503:
            problems.append(f"{answer.method} {answer.path} → {answer.status}: {answer.body}")
        if answer.status == 503 and "retry-after" not in answer.headers:
            problems.append(f"{answer.method} {answer.path}: 503 without Retry-After")
        creates = answer.method == "POST" and answer.path.startswith("/api/orders/")
        if answer.status == 409 and creates:
            problems.append(f"create of a fresh id answered 409: {answer.path}")
        if answer.status == 403:
            problems.append(f"{answer.method} {answer.path} answered 403 to its owner")
    fills: dict[int, int] = defaultdict(int)
    for trade_id, record in table.trades.items():
        for fill in record["fills"]:
            fills[int(fill["orderId"])] += int(fill["amount"])
        reported = seen.trades.get(trade_id)
        if reported is None and trade_id not in seen.unknown_trades:
            problems.append(f"trade {trade_id} is recorded but no client was told about it")
        for body in reported or []:
            if body["fills"] != record["fills"] or body["price"] != record["price"]:
                problems.append(
                    f"trade {trade_id}: answered {body['fills']} but recorded {record['fills']}"
                )
    for trade_id in seen.trades:
        if trade_id not in table.trades:
            problems.append(f"trade {trade_id} was answered 200 but has no record")
    for key, bodies in seen.requests_by_key.items():
        if any(body != bodies[0] for body in bodies[1:]):
            problems.append(f"Idempotency-Key {key} answered differently: {bodies}")
    checked = skipped = 0
    for order_id, created in seen.created.items():
        if order_id in seen.unknown_orders:
            skipped += 1
            continue
        expected = created + seen.adjustments.get(order_id, 0) - fills.get(order_id, 0)
        expected -= seen.removed.get(order_id, 0)
        resting = table.resting.get(order_id, 0)
        checked += 1
        if expected != resting:
            problems.append(
                f"order {order_id}: created {created}, amended "
                f"{seen.adjustments.get(order_id, 0)}, filled {fills.get(order_id, 0)}, "
                f"removed {seen.removed.get(order_id, 0)}, but {resting} rests"
            )
    for order_id, method in seen.not_found:
        if order_id in seen.unknown_orders:
            continue
        left = seen.created[order_id] + seen.adjustments.get(order_id, 0) - fills.get(order_id, 0)
        if left - seen.removed.get(order_id, 0) != 0:
            problems.append(f"{method} of own order {order_id} answered 404 while {left} was left")
    figures = {
        "answers": len(seen.answers),
        "orders_checked": checked,
        "orders_unknown_outcome": skipped,
        "trades_recorded": len(table.trades),
        "trades_outcome_unknown": len(seen.unknown_trades),
        **{f"status_{status}": count for status, count in sorted(statuses.items())},
    }
    return problems, figures


def iter_table(client: Any, table_name: str) -> Iterator[dict[str, Any]]:
    """Every item of the table (a scan; for checks after the run)."""
    paginator = client.get_paginator("scan")
    for page in paginator.paginate(TableName=table_name, ConsistentRead=True):
        yield from page["Items"]


def table_state(client: Any, table_name: str) -> TableState:
    """Resting orders and trade records, decoded from a scan."""
    from shared.codecs import order_from_item, trade_from_item

    resting: dict[int, int] = {}
    owners: dict[int, str] = {}
    trades: dict[str, dict[str, Any]] = {}
    for item in iter_table(client, table_name):
        entity = item.get("entity", {}).get("S")
        if entity == "ORDER":
            order = order_from_item(item)
            resting[order.id] = order.amount
            owners[order.id] = order.account
        elif entity == "TRADE":
            trade = trade_from_item(item)
            trades[trade.id] = {
                "price": _number(trade.price),
                "fills": [
                    {"orderId": f.order_id, "amount": f.amount, "price": _number(f.price)}
                    for f in trade.fills
                ],
            }
    return TableState(resting, owners, trades)


def _number(value: Decimal) -> int | float | Decimal:
    # As the API's JSON reads back through httpx's json(): integral → int, else float.
    return int(value) if value == value.to_integral_value() else float(value)
