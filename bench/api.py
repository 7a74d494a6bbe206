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

The headline ratio is api/boto3 (the stricter one); api/repository isolates HTTP + FastAPI.
Figures are printed, never asserted. The last line is a JSON summary.

    uv run python bench/api.py [--requests N] [--warmup N] [--block N] [--no-info-log]
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib.metadata
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from types import FrameType
from typing import IO, TYPE_CHECKING, Any

import httpx
from pydantic import SecretStr

from services.devstack.dynamodb_local import NPM_PACKAGE, NPM_VERSION, DynamoDBLocal
from services.devstack.processes import free_port, spawn, stop
from shared.codecs import order_key, order_to_item
from shared.models import Order, OrderDraft, Side
from shared.repository import OrderRepository, ensure_table, make_clients
from shared.sequence import SequenceGenerator
from shared.settings import AwsSettings

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

TABLE_NAME = "om-bench"
ACCESS_KEY_ID = "omlocal"
SECRET_ACCESS_KEY = "omlocalsecret"
REGION = "us-east-1"
GET_P50_TARGET = 1.3
INFO_FIRST_ID = 4_000_000

OPERATIONS = ("POST", "GET", "PATCH", "DELETE")  # run order: each needs the previous one's items
SYMBOL = "BENCH"
PRICE = Decimal("20.125")
AMOUNT = 100
AMENDED_AMOUNT = 60  # a decrease: keeps time priority, bumps the version
HEALTH_TIMEOUT_SECONDS = 60.0

Call = Callable[[int], None]


class BenchError(RuntimeError):
    """A side answered something other than what the operation must return."""


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


def api_side(name: str, first_id: int, client: httpx.Client) -> Contender:
    """Requests through the HTTP API, checking each status and body."""
    side = Contender(name, first_id)
    # The price as a JSON number written digit for digit, as an exact client would send it.
    create_bodies = [
        f'{{"symbol":"{SYMBOL}","side":{book_side},"amount":{AMOUNT},"price":{PRICE}}}'
        for book_side in (0, 1)
    ]
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
        repository.create(_draft(side.order_id(index)))

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
        order = Order.place(_draft(side.order_id(index)), sequence=sequence.next(), at=now)
        created.append(order)
    created_items = [order_to_item(order) for order in created]
    amended_items = [
        order_to_item(
            order.amended(amount=AMENDED_AMOUNT, price=None, next_sequence=sequence.next(), at=now)
        )
        for order in created
    ]
    keys = [order_key(order.id) for order in created]
    table = TABLE_NAME

    def post(index: int) -> None:  # OrderRepository.create
        client.put_item(
            TableName=table,
            Item=created_items[index],
            ConditionExpression="attribute_not_exists(PK)",
        )

    def get(index: int) -> None:  # OrderRepository.get
        if "Item" not in client.get_item(TableName=table, Key=keys[index], ConsistentRead=True):
            raise BenchError(f"{side.name}: GetItem found no order {created[index].id}")

    def patch(index: int) -> None:  # OrderRepository.amend: read, then write if unchanged
        client.get_item(TableName=table, Key=keys[index], ConsistentRead=True)
        client.put_item(
            TableName=table,
            Item=amended_items[index],
            ConditionExpression="#version = :expected",
            ExpressionAttributeNames={"#version": "version"},
            ExpressionAttributeValues={":expected": {"N": str(created[index].version)}},
        )

    def delete(index: int) -> None:  # OrderRepository.delete
        client.delete_item(
            TableName=table,
            Key=keys[index],
            ConditionExpression="attribute_exists(PK)",
            ReturnValues="ALL_OLD",
        )

    side.calls = {"POST": post, "GET": get, "PATCH": patch, "DELETE": delete}
    return side


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
        cuts = statistics.quantiles(samples_ns, n=100, method="inclusive")
        total = sum(samples_ns)
        return cls(
            count=len(samples_ns),
            p50_ms=cuts[49] / 1e6,
            p99_ms=cuts[98] / 1e6,
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
        print(f"  measured {operation}", file=sys.stderr, flush=True)
    return results


# --- processes -------------------------------------------------------------------------------


def om_executable() -> str:
    """The `om` console script installed next to this interpreter (what the container runs)."""
    script = Path(sys.executable).with_name("om")
    if not script.is_file():
        raise SystemExit(f"error: no `om` console script next to {sys.executable}; run `uv sync`")
    return str(script)


@contextlib.contextmanager
def running_api(endpoint_url: str, *, log_level: str, log: IO[bytes]) -> Iterator[str]:
    """`om api` on a free port with the OM_* settings of the run; yields its base URL."""
    port = free_port()
    settings = {
        "OM_TABLE_NAME": TABLE_NAME,
        "OM_DYNAMODB_ENDPOINT_URL": endpoint_url,
        "OM_AWS_ACCESS_KEY_ID": ACCESS_KEY_ID,
        "OM_AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
        "OM_REGION": REGION,
        "OM_LOG_LEVEL": log_level,
    }
    # `env` execs `om` in place, so the child keeps `spawn`'s die-with-parent hook.
    command = [
        "/usr/bin/env",
        *(f"{name}={value}" for name, value in settings.items()),
        om_executable(),
        "api",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    process = spawn(command, log=log)
    try:
        base_url = f"http://127.0.0.1:{port}"
        wait_for_health(base_url, process)
        yield base_url
    finally:
        stop(process)


def wait_for_health(base_url: str, process: subprocess.Popen[bytes]) -> None:
    """Poll `/api/health` until it answers 200; fail early if the server exits."""
    deadline = time.monotonic() + HEALTH_TIMEOUT_SECONDS
    with httpx.Client(base_url=base_url, timeout=2.0) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise SystemExit(f"error: `om api` exited with status {process.returncode}")
            with contextlib.suppress(httpx.TransportError):
                if client.get("/api/health").status_code == 200:
                    return
            time.sleep(0.1)
    raise SystemExit(f"error: {base_url}/api/health did not answer 200 in time")


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


def _raise_keyboard_interrupt(signum: int, _: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


# --- the machine and the report --------------------------------------------------------------


def machine() -> dict[str, Any]:
    """What ran the benchmark."""
    cpu_model = "unknown"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    memory_gib = None
    with contextlib.suppress(OSError, ValueError), open("/proc/meminfo") as meminfo:
        kib = int(meminfo.readline().split()[1])
        memory_gib = round(kib / 2**20, 1)
    java = "unknown"
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        result = subprocess.run(
            ["java", "-version"], capture_output=True, text=True, timeout=30, check=False
        )
        java = (result.stderr or result.stdout).splitlines()[0].strip()
    versions = {
        name: importlib.metadata.version(name)
        for name in ("fastapi", "starlette", "uvicorn", "pydantic", "boto3", "botocore", "httpx")
    }
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_model": cpu_model,
        "memory_gib": memory_gib,
        "os": platform.platform(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "java": java,
        "dynamodb_local": f"{NPM_PACKAGE}@{NPM_VERSION} (npm), in memory",
        "packages": versions,
    }


def ratios(results: dict[str, dict[str, Figures]], top: str, base: str) -> dict[str, Any]:
    """p50 and p99 of `top` over `base`, per operation."""
    return {
        operation: {
            "p50": round(figures[top].p50_ms / figures[base].p50_ms, 3),
            "p99": round(figures[top].p99_ms / figures[base].p99_ms, 3),
        }
        for operation, figures in results.items()
        if top in figures and base in figures
    }


def print_report(
    results: dict[str, dict[str, Figures]],
    in_app: dict[str, Figures],
    about: dict[str, Any],
) -> dict[str, Any]:
    """The human-readable table; returns the ratios it printed."""
    versus_boto3 = ratios(results, "api", "boto3")
    versus_repository = ratios(results, "api", "repository")
    logging_cost = ratios(results, "api_info", "api")
    print()
    print(f"{'op':<7} {'side':<11} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8} {'req/s':>8}")
    for operation in ("GET", "POST", "PATCH", "DELETE"):
        for name, figures in results[operation].items():
            print(
                f"{operation:<7} {name:<11} {figures.p50_ms:>8.3f} {figures.p99_ms:>8.3f} "
                f"{figures.mean_ms:>8.3f} {figures.requests_per_second:>8.0f}"
            )
        line = "        api/boto3      p50 ×{p50:.2f}  p99 ×{p99:.2f}".format(
            **versus_boto3[operation]
        )
        if operation == "GET":
            met = versus_boto3["GET"]["p50"] <= GET_P50_TARGET
            line += f"   target p50 ≤ {GET_P50_TARGET}: {'MET' if met else 'MISSED'}"
        print(line)
        print(
            "        api/repository p50 ×{p50:.2f}  p99 ×{p99:.2f}".format(
                **versus_repository[operation]
            )
        )
        if operation in logging_cost:
            print(
                "        api_info/api   p50 ×{p50:.2f}  p99 ×{p99:.2f}  (INFO access log)".format(
                    **logging_cost[operation]
                )
            )
        if operation in in_app:
            app = in_app[operation]
            outside = results[operation]["api_info"].p50_ms - app.p50_ms
            print(
                f"        in the app     p50 {app.p50_ms:.3f} ms  p99 {app.p99_ms:.3f} ms  "
                f"(api_info access log; client + socket + uvicorn ≈ {outside:.3f} ms of p50)"
            )
    print()
    print("machine:")
    for key, value in about.items():
        print(f"  {key}: {value}")
    return {
        "api/boto3": versus_boto3,
        "api/repository": versus_repository,
        "api_info/api": logging_cost,
    }


# --- main ------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--requests", type=int, default=1000, help="measured requests per operation and side"
    )
    parser.add_argument(
        "--warmup", type=int, default=200, help="unmeasured requests per operation and side first"
    )
    parser.add_argument("--block", type=int, default=25, help="requests per side in a row")
    parser.add_argument(
        "--no-info-log",
        dest="info_log",
        action="store_false",
        help="skip the second API with OM_LOG_LEVEL=INFO",
    )
    args = parser.parse_args(argv)
    if args.requests < 2 or args.warmup < 0 or args.block < 1:
        parser.error("--requests ≥ 2, --warmup ≥ 0, --block ≥ 1")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the report; the last line is the JSON summary."""
    args = parse_args(argv)
    # Every way of being stopped unwinds the ExitStack, which stops the API and the JVM.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    signal.signal(signal.SIGHUP, _raise_keyboard_interrupt)
    per_side = args.warmup + args.requests
    started = datetime.now(UTC)
    load_at_start = os.getloadavg()[0]
    if load_at_start > 0.5:
        print(
            f"note: 1-minute load average is {load_at_start:.2f} before starting; other work on "
            "this machine makes the figures noisier (ratios less so: sides are interleaved)",
            file=sys.stderr,
        )
    with contextlib.ExitStack() as stack:
        logs = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="om-bench-")))
        print("starting DynamoDB Local and the API …", file=sys.stderr, flush=True)
        dynamodb = stack.enter_context(
            DynamoDBLocal(log=stack.enter_context((logs / "dynamodb.log").open("wb")))
        )
        settings = AwsSettings(
            table_name=TABLE_NAME,
            dynamodb_endpoint_url=dynamodb.endpoint_url,
            aws_access_key_id=ACCESS_KEY_ID,
            aws_secret_access_key=SecretStr(SECRET_ACCESS_KEY),
            region=REGION,
        )
        dynamodb_client = make_clients(settings).dynamodb
        ensure_table(dynamodb_client, TABLE_NAME)
        api_url = stack.enter_context(
            running_api(
                dynamodb.endpoint_url,
                log_level="WARNING",
                log=stack.enter_context((logs / "api.log").open("wb")),
            )
        )
        http = stack.enter_context(httpx.Client(base_url=api_url, timeout=10.0))
        sides = [
            api_side("api", 1_000_000, http),
            repository_side("repository", 2_000_000, OrderRepository(dynamodb_client, TABLE_NAME)),
            boto3_side("boto3", 3_000_000, per_side, dynamodb_client),
        ]
        if args.info_log:
            info_url = stack.enter_context(
                running_api(
                    dynamodb.endpoint_url,
                    log_level="INFO",
                    log=stack.enter_context((logs / "api-info.log").open("wb")),
                )
            )
            info_http = stack.enter_context(httpx.Client(base_url=info_url, timeout=10.0))
            sides.append(api_side("api_info", INFO_FIRST_ID, info_http))
        print(
            f"measuring {args.requests} requests per operation and side "
            f"({args.warmup} warm-up, blocks of {args.block}) …",
            file=sys.stderr,
            flush=True,
        )
        try:
            results = measure(sides, requests=args.requests, warmup=args.warmup, block=args.block)
            in_app = (
                app_times(logs / "api-info.log", INFO_FIRST_ID, args.warmup)
                if args.info_log
                else {}
            )
        except BenchError:
            for name in ("api.log", "api-info.log"):
                with contextlib.suppress(OSError):
                    tail = (logs / name).read_text(errors="replace")[-2000:]
                    print(f"--- {name} (tail)\n{tail}", file=sys.stderr)
            raise
    about = machine()
    about["load_average_1m_at_start"] = round(load_at_start, 2)
    printed = print_report(results, in_app, about)
    get_ratio = printed["api/boto3"]["GET"]["p50"]
    summary = {
        "benchmark": "bench/api.py",
        "date": started.isoformat(timespec="seconds").replace("+00:00", "Z"),
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
        "ratios": printed,
        "get_p50_target": {
            "limit": GET_P50_TARGET,
            "ratio": get_ratio,
            "met": get_ratio <= GET_P50_TARGET,
        },
    }
    print(json.dumps(summary, separators=(",", ":"), ensure_ascii=False))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("interrupted: DynamoDB Local and the API were stopped", file=sys.stderr)
        sys.exit(130)
