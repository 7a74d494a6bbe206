"""Latency (p50/p99) and sequential requests/s of the API next to direct DynamoDB calls.

One in-memory DynamoDB Local, one `om api` process (one uvicorn worker, started exactly as the
container starts it) and, in this process, the baselines. Per operation (POST, GET, PATCH, DELETE
of `/api/orders/{id}`) every side works on its own ids, one request at a time over one keep-alive
connection, in small blocks taken in rotating order, so JVM warm-up and machine drift land on all
sides alike. Sides:

* `api`         httpx → uvicorn → FastAPI route → OrderRepository → boto3 → DynamoDB Local.
* `repository`  OrderRepository called in-process: the same code the route calls, minus HTTP.
* `boto3`       the bare DynamoDB calls the repository makes for the operation (items built
                before the clock starts): the issue's "same DynamoDB calls made directly".
* `api_info`    a second `om api` with `OM_LOG_LEVEL=INFO`: what the access log line costs.

Every API request carries an API key, verified once and then served from the in-process cache;
after the sides, `--new-keys` requests each present a key never seen before (one GetItem more):
the price of an uncached first request, next to the same GET with a cached key.

The headline figures are api/boto3 at p50 (the stricter ratio) and api − boto3 at p50 (what the
API adds, in ms); api/repository isolates HTTP + FastAPI. Figures only, no verdicts: see
bench/README.md for what they mean against the targets. The last line is a JSON summary.

    uv run python -m bench.api [--requests N] [--warmup N] [--block N] [--no-info-log]
                               [--new-keys N]
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from bench.harness import (
    BenchError,
    dynamodb_local,
    load_average,
    local_settings,
    machine,
    om_api,
    percentile,
    print_machine,
    print_summary,
    print_table,
    progress,
    run_benchmark,
    tail,
    utc_stamp,
)
from shared.access import ALL_SCOPES
from shared.codecs import order_key, order_to_item
from shared.models import Order, OrderDraft, Side, new_write_token
from shared.repository import OrderRepository, ensure_table, make_clients
from shared.repository.api_keys import ApiKeyRepository
from shared.repository.orders import leave_book
from shared.sequence import SequenceGenerator
from shared.settings import AwsSettings

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

TABLE_NAME = "om-bench"
ACCOUNT = "bench"
INFO_FIRST_ID = 4_000_000
KEYED_ORDER_ID = 5_000_000
PACKAGES = ("fastapi", "starlette", "uvicorn", "pydantic", "boto3", "botocore", "httpx")

OPERATIONS = ("POST", "GET", "PATCH", "DELETE")  # run order: each needs the previous one's items
REPORT_ORDER = ("GET", "POST", "PATCH", "DELETE")
SYMBOL = "BENCH"
PRICE = Decimal("20.125")
AMOUNT = 100
AMENDED_AMOUNT = 60  # a decrease: keeps time priority, bumps the version
HEALTH_TIMEOUT_SECONDS = 60.0

Call = Callable[[int], None]


# --- the sides -------------------------------------------------------------------------------


@dataclass
class Contender:
    """One way of performing the four operations, on its own range of order ids."""

    name: str
    first_id: int
    calls: dict[str, Call] = field(default_factory=dict)

    def order_id(self, index: int) -> int:
        """The id this side uses for its `index`-th request of an operation."""
        return self.first_id + index


def _draft(order_id: int) -> OrderDraft:
    return OrderDraft(
        id=order_id, symbol=SYMBOL, side=Side(order_id % 2), amount=AMOUNT, price=PRICE
    )


def _create_body(book_side: int) -> str:
    # The price as a JSON number written digit for digit, as an exact client would send it.
    return f'{{"symbol":"{SYMBOL}","side":{book_side},"amount":{AMOUNT},"price":{PRICE}}}'


def api_side(name: str, first_id: int, client: httpx.Client) -> Contender:
    """Requests through the HTTP API, checking each status and body."""
    side = Contender(name, first_id)
    create_bodies = [_create_body(book_side) for book_side in (0, 1)]
    amend_body = json.dumps({"amount": AMENDED_AMOUNT})
    json_headers = {"content-type": "application/json"}

    def expect(response: httpx.Response, status: int, amount: int) -> None:
        if response.status_code != status or response.json()["amount"] != amount:
            raise BenchError(
                f"{side.name}: {response.request.method} {response.request.url.path} → "
                f"{response.status_code} {response.text[:200]}"
            )

    def post(index: int) -> None:
        order_id = side.order_id(index)
        body = create_bodies[order_id % 2]
        expect(
            client.post(f"/api/orders/{order_id}", content=body, headers=json_headers),
            201,
            AMOUNT,
        )

    def get(index: int) -> None:
        expect(client.get(f"/api/orders/{side.order_id(index)}"), 200, AMOUNT)

    def patch(index: int) -> None:
        path = f"/api/orders/{side.order_id(index)}"
        expect(client.patch(path, content=amend_body, headers=json_headers), 200, AMENDED_AMOUNT)

    def delete(index: int) -> None:
        expect(client.delete(f"/api/orders/{side.order_id(index)}"), 200, AMENDED_AMOUNT)

    side.calls = {"POST": post, "GET": get, "PATCH": patch, "DELETE": delete}
    return side


def repository_side(name: str, first_id: int, repository: OrderRepository) -> Contender:
    """The repository methods the routes call, in this process."""
    side = Contender(name, first_id)

    def post(index: int) -> None:
        repository.create(_draft(side.order_id(index)), account=ACCOUNT)

    def get(index: int) -> None:
        repository.get(side.order_id(index))

    def patch(index: int) -> None:
        repository.amend(side.order_id(index), amount=AMENDED_AMOUNT, price=None)

    def delete(index: int) -> None:
        repository.delete(side.order_id(index))

    side.calls = {"POST": post, "GET": get, "PATCH": patch, "DELETE": delete}
    return side


def boto3_side(name: str, first_id: int, count: int, client: DynamoDBClient) -> Contender:
    """The DynamoDB calls `OrderRepository` makes, bare; every item is built before timing."""
    side = Contender(name, first_id)
    sequence = SequenceGenerator()
    now = datetime.now(UTC)
    created: list[Order] = []
    for index in range(count):
        order = Order.place(
            _draft(side.order_id(index)),
            account=ACCOUNT,
            token=new_write_token(),
            sequence=sequence.next(),
            at=now,
        )
        created.append(order)
    created_items = [order_to_item(order) for order in created]
    amended = [
        order.amended(
            amount=AMENDED_AMOUNT,
            price=None,
            next_sequence=sequence.next(),
            at=now,
            token=new_write_token(),
        )
        for order in created
    ]
    amended_items = [order_to_item(order) for order in amended]
    deleted_by = [new_write_token() for _ in amended]
    keys = [order_key(order.id) for order in created]
    table = TABLE_NAME
    guard = "#version = :version AND #token = :token"
    free_for_create = "attribute_not_exists(PK) OR (#entity = :gone AND #token <> :token)"
    names = {"#version": "version", "#token": "token"}

    def guard_values(order: Order) -> dict[str, Any]:
        return {":version": {"N": str(order.version)}, ":token": {"S": order.token}}

    def post(index: int) -> None:  # OrderRepository.create
        client.put_item(
            TableName=table,
            Item=created_items[index],
            ConditionExpression=free_for_create,
            ExpressionAttributeNames={"#entity": "entity", "#token": "token"},
            ExpressionAttributeValues={
                ":gone": {"S": "GONE"},
                ":token": {"S": created[index].token},
            },
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )

    def get(index: int) -> None:  # OrderRepository.get
        if "Item" not in client.get_item(TableName=table, Key=keys[index], ConsistentRead=True):
            raise BenchError(f"{side.name}: GetItem found no order {created[index].id}")

    def patch(index: int) -> None:  # OrderRepository.amend: read, then write if unchanged
        client.get_item(TableName=table, Key=keys[index], ConsistentRead=True)
        client.put_item(
            TableName=table,
            Item=amended_items[index],
            ConditionExpression=guard,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=guard_values(created[index]),
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )

    def delete(index: int) -> None:  # OrderRepository.delete: read, then leave the book
        client.get_item(TableName=table, Key=keys[index], ConsistentRead=True)
        gone = leave_book(
            version=amended[index].version,
            amount=AMENDED_AMOUNT,
            at=now,
            deleted_by=deleted_by[index],
        )
        client.update_item(
            TableName=table,
            Key=keys[index],
            ConditionExpression=f"#entity = :order AND {guard}",
            UpdateExpression=gone["UpdateExpression"],
            ExpressionAttributeNames={
                **gone["ExpressionAttributeNames"],
                **names,
                "#entity": "entity",
            },
            ExpressionAttributeValues={
                **gone["ExpressionAttributeValues"],
                **guard_values(amended[index]),
                ":order": {"S": "ORDER"},
            },
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )

    side.calls = {"POST": post, "GET": get, "PATCH": patch, "DELETE": delete}
    return side


def new_key_figures(
    http: httpx.Client, keys: ApiKeyRepository, *, count: int, order_id: int
) -> dict[str, Figures]:
    """GET of one order with `count` never-seen keys (uncached) and then again (cached)."""
    fresh = [keys.create(ACCOUNT, ALL_SCOPES, "bench").secret for _ in range(count)]
    path = f"/api/orders/{order_id}"
    samples: dict[str, list[int]] = {"new key": [], "cached key": []}
    for name in ("new key", "cached key"):
        for key in fresh:
            began = time.perf_counter_ns()
            response = http.get(path, headers={"Authorization": f"Bearer {key}"})
            samples[name].append(time.perf_counter_ns() - began)
            if response.status_code != 200:
                raise BenchError(f"GET {path} with a {name} → {response.status_code}")
    return {name: Figures.of(taken) for name, taken in samples.items()}


# --- measuring -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Figures:
    """Latency percentiles and sequential throughput of one side for one operation."""

    count: int
    p50_ms: float
    p99_ms: float
    mean_ms: float
    requests_per_second: float

    @classmethod
    def of(cls, samples_ns: list[int]) -> Figures:
        """Figures of latency samples in nanoseconds."""
        total = sum(samples_ns)
        return cls(
            count=len(samples_ns),
            p50_ms=percentile(samples_ns, 50) / 1e6,
            p99_ms=percentile(samples_ns, 99) / 1e6,
            mean_ms=total / len(samples_ns) / 1e6,
            requests_per_second=len(samples_ns) / (total / 1e9),
        )


def run_operation(
    operation: str, sides: list[Contender], *, start: int, count: int, block: int
) -> dict[str, list[int]]:
    """Requests `start … start+count-1` of `operation` on every side, interleaved by block."""
    samples: dict[str, list[int]] = {side.name: [] for side in sides}
    clock = time.perf_counter_ns
    for number, block_start in enumerate(range(start, start + count, block)):
        indexes = range(block_start, min(block_start + block, start + count))
        shift = number % len(sides)
        for side in sides[shift:] + sides[:shift]:  # each side goes first as often as the others
            call = side.calls[operation]
            taken = samples[side.name]
            for index in indexes:
                began = clock()
                call(index)
                taken.append(clock() - began)
    return samples


def measure(
    sides: list[Contender], *, requests: int, warmup: int, block: int
) -> dict[str, dict[str, Figures]]:
    """Warm every side up with a full cycle, then measure each operation over fresh ids."""
    for operation in OPERATIONS:
        run_operation(operation, sides, start=0, count=warmup, block=block)
    results: dict[str, dict[str, Figures]] = {}
    for operation in OPERATIONS:
        gc.collect()
        samples = run_operation(operation, sides, start=warmup, count=requests, block=block)
        results[operation] = {name: Figures.of(taken) for name, taken in samples.items()}
        progress(f"measured {operation}")
    return results


# --- processes -------------------------------------------------------------------------------


@contextlib.contextmanager
def running_api(
    endpoint_url: str, *, log_level: str, log: Path, key: str
) -> Iterator[httpx.Client]:
    """`om api` over the run's table; yields a keep-alive client that sends `key`."""
    settings = {
        "table_name": TABLE_NAME,
        "dynamodb_endpoint_url": endpoint_url,
        "log_level": log_level,
    }
    with (
        om_api(settings, log, timeout=HEALTH_TIMEOUT_SECONDS) as base_url,
        httpx.Client(
            base_url=base_url, timeout=10.0, headers={"Authorization": f"Bearer {key}"}
        ) as client,
    ):
        yield client


def app_times(log: Path, first_id: int, warmup: int) -> dict[str, Figures]:
    """Per operation, the `duration_ms` the INFO access log reports for measured requests.

    It is timed inside `RequestLogMiddleware`, so the client latency minus it is what the HTTP
    client, the socket and uvicorn (with the layers outside the middleware) add.
    """
    samples: dict[str, list[int]] = {}
    for line in log.read_text(errors="replace").splitlines():
        with contextlib.suppress(ValueError, KeyError, TypeError):
            entry = json.loads(line)
            if entry["message"] != "request" or not entry["path"].startswith("/api/orders/"):
                continue
            if int(entry["path"].rsplit("/", 1)[1]) - first_id >= warmup:
                samples.setdefault(entry["method"], []).append(int(entry["duration_ms"] * 1e6))
    return {method: Figures.of(taken) for method, taken in samples.items() if len(taken) > 1}


# --- the report ------------------------------------------------------------------------------

Comparison = dict[str, dict[str, float]]


def ratios(results: dict[str, dict[str, Figures]], top: str, base: str) -> Comparison:
    """p50 and p99 of `top` over `base`, per operation."""
    return {
        operation: {
            "p50": round(figures[top].p50_ms / figures[base].p50_ms, 3),
            "p99": round(figures[top].p99_ms / figures[base].p99_ms, 3),
        }
        for operation, figures in results.items()
        if top in figures and base in figures
    }


def differences(results: dict[str, dict[str, Figures]], top: str, base: str) -> Comparison:
    """p50 and p99 of `top` minus `base` in ms, per operation: what `top` adds in absolute terms."""
    return {
        operation: {
            "p50": round(figures[top].p50_ms - figures[base].p50_ms, 4),
            "p99": round(figures[top].p99_ms - figures[base].p99_ms, 4),
        }
        for operation, figures in results.items()
        if top in figures and base in figures
    }


def print_report(
    results: dict[str, dict[str, Figures]],
    in_app: dict[str, Figures],
    comparisons: dict[str, Comparison],
) -> None:
    """The per-side figures, then per operation the comparisons between sides."""
    print()
    print_table(
        ("op", "side", "p50 ms", "p99 ms", "mean ms", "req/s"),
        [
            (
                operation,
                name,
                f"{figures.p50_ms:.3f}",
                f"{figures.p99_ms:.3f}",
                f"{figures.mean_ms:.3f}",
                f"{figures.requests_per_second:.0f}",
            )
            for operation in REPORT_ORDER
            for name, figures in results[operation].items()
        ],
        align="<<>>>>",
    )
    print()
    ratio_columns = [
        (name, cut)
        for name in ("api/boto3", "api/repository", "api_info/api")
        for cut in ("p50", "p99")
    ]
    print_table(
        ("op", *(f"{name} {cut}" for name, cut in ratio_columns)),
        [
            (
                operation,
                *(
                    f"×{comparisons[name][operation][cut]:.2f}"
                    if operation in comparisons[name]
                    else None
                    for name, cut in ratio_columns
                ),
            )
            for operation in REPORT_ORDER
        ],
    )
    print()
    rows = []
    for operation in REPORT_ORDER:
        app = in_app.get(operation)
        outside = results[operation]["api_info"].p50_ms - app.p50_ms if app else None
        rows.append(
            (
                operation,
                f"{comparisons['api-boto3'][operation]['p50']:+.3f}",
                f"{app.p50_ms:.3f}" if app else None,
                f"{app.p99_ms:.3f}" if app else None,
                f"{outside:.3f}" if outside is not None else None,
            )
        )
    print_table(
        ("op", "api − boto3 p50 ms", "in the app p50 ms", "in the app p99 ms", "outside p50 ms"),
        rows,
    )
    print(
        "  in the app: `duration_ms` in the api_info access log (timed inside "
        "RequestLogMiddleware);\n  outside: api_info p50 minus in the app p50 (HTTP client, "
        "socket, uvicorn)"
    )
    print()


# --- main ------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.api", description=(__doc__ or "").split("\n", 1)[0]
    )
    parser.add_argument(
        "--requests", type=int, default=1000, help="measured requests per operation and side"
    )
    parser.add_argument(
        "--warmup", type=int, default=200, help="unmeasured requests per operation and side first"
    )
    parser.add_argument("--block", type=int, default=25, help="requests per side in a row")
    parser.add_argument(
        "--new-keys", type=int, default=200, help="keys presented uncached, then cached"
    )
    parser.add_argument(
        "--no-info-log",
        dest="info_log",
        action="store_false",
        help="skip the second API with OM_LOG_LEVEL=INFO",
    )
    args = parser.parse_args(argv)
    if args.requests < 2 or args.warmup < 0 or args.block < 1 or args.new_keys < 2:
        parser.error("--requests ≥ 2, --warmup ≥ 0, --block ≥ 1, --new-keys ≥ 2")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the report; the last line is the JSON summary."""
    args = parse_args(argv)
    per_side = args.warmup + args.requests
    started = datetime.now(UTC)
    load_at_start = load_average(
        consequence="other work on this machine makes the figures noisier "
        "(ratios less so: sides are interleaved)"
    )
    with contextlib.ExitStack() as stack:
        logs = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="om-bench-")))
        progress("starting DynamoDB Local and the API …")
        dynamodb = stack.enter_context(dynamodb_local(logs / "dynamodb.log"))
        settings = local_settings(
            AwsSettings, table_name=TABLE_NAME, dynamodb_endpoint_url=dynamodb.endpoint_url
        )
        dynamodb_client = make_clients(settings).dynamodb
        ensure_table(dynamodb_client, TABLE_NAME)
        api_keys = ApiKeyRepository(dynamodb_client, TABLE_NAME)
        key = api_keys.create(ACCOUNT, ALL_SCOPES, "bench").secret
        http = stack.enter_context(
            running_api(dynamodb.endpoint_url, log_level="WARNING", log=logs / "api.log", key=key)
        )
        sides = [
            api_side("api", 1_000_000, http),
            repository_side("repository", 2_000_000, OrderRepository(dynamodb_client, TABLE_NAME)),
            boto3_side("boto3", 3_000_000, per_side, dynamodb_client),
        ]
        if args.info_log:
            info_http = stack.enter_context(
                running_api(
                    dynamodb.endpoint_url, log_level="INFO", log=logs / "api-info.log", key=key
                )
            )
            sides.append(api_side("api_info", INFO_FIRST_ID, info_http))
        progress(
            f"measuring {args.requests} requests per operation and side "
            f"({args.warmup} warm-up, blocks of {args.block}) …"
        )
        try:
            results = measure(sides, requests=args.requests, warmup=args.warmup, block=args.block)
            http.post(f"/api/orders/{KEYED_ORDER_ID}", json=json.loads(_create_body(0)))
            keyed = new_key_figures(http, api_keys, count=args.new_keys, order_id=KEYED_ORDER_ID)
            in_app = (
                app_times(logs / "api-info.log", INFO_FIRST_ID, args.warmup)
                if args.info_log
                else {}
            )
        except BenchError:
            for name in ("api.log", "api-info.log"):
                progress(f"--- {name} (tail)\n{tail(logs / name, chars=2000)}")
            raise
    about = machine(PACKAGES)
    about["load_average_1m_at_start"] = load_at_start
    comparisons = {
        "api/boto3": ratios(results, "api", "boto3"),
        "api/repository": ratios(results, "api", "repository"),
        "api_info/api": ratios(results, "api_info", "api"),
        "api-boto3": differences(results, "api", "boto3"),
    }
    print_report(results, in_app, comparisons)
    print_table(
        ("GET with", "p50 ms", "p99 ms", "mean ms"),
        [
            (name, f"{f.p50_ms:.3f}", f"{f.p99_ms:.3f}", f"{f.mean_ms:.3f}")
            for name, f in keyed.items()
        ],
    )
    print(
        f"  each of {args.new_keys} keys presented first uncached (its item is read), "
        "then again from the cache\n"
    )
    print_machine(about)
    print_summary(
        {
            "benchmark": "bench/api.py",
            "date": utc_stamp(started),
            "requests": args.requests,
            "warmup": args.warmup,
            "block": args.block,
            "machine": about,
            "results": {
                operation: {
                    name: {
                        "count": figures.count,
                        "p50_ms": round(figures.p50_ms, 4),
                        "p99_ms": round(figures.p99_ms, 4),
                        "mean_ms": round(figures.mean_ms, 4),
                        "requests_per_second": round(figures.requests_per_second, 1),
                    }
                    for name, figures in by_side.items()
                }
                for operation, by_side in results.items()
            },
            "in_app_ms": {
                operation: {"p50": round(figures.p50_ms, 4), "p99": round(figures.p99_ms, 4)}
                for operation, figures in in_app.items()
            },
            "ratios": {
                name: comparisons[name] for name in ("api/boto3", "api/repository", "api_info/api")
            },
            "differences_ms": {"api-boto3": comparisons["api-boto3"]},
            "key_verification_ms": {
                name: {"p50": round(f.p50_ms, 4), "p99": round(f.p99_ms, 4)}
                for name, f in keyed.items()
            },
        }
    )
    return 0


if __name__ == "__main__":
    run_benchmark(main, stopped="DynamoDB Local and the API were stopped")
