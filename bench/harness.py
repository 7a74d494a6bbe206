"""What the benchmarks share: the machine, the local stack and its child processes, the output.

Every benchmark runs against DynamoDB Local on loopback with fixed dummy credentials, starts its
children so that they die with it, stops them all on Ctrl-C, SIGTERM or SIGHUP, prints figures
(never verdicts: `bench/README.md` reads them against the targets) and ends with one JSON line.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.metadata
import json
import os
import platform
import random
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

# pydantic, the settings and the emulator are imported where they are used: the loader's measured
# child processes import this module, and their CPU time is one of the figures.
if TYPE_CHECKING:
    from services.devstack.dynamodb_local import DynamoDBLocal
    from shared.repository import AwsClients
    from shared.settings import AwsSettings

ACCESS_KEY_ID = "omlocal"
SECRET_ACCESS_KEY = "omlocalsecret"
REGION = "us-east-1"
BUSY_LOAD_AVERAGE = 0.5

SettingsT = TypeVar("SettingsT", bound="AwsSettings")


class BenchError(RuntimeError):
    """Something measured did not do what it must, so the run's figures would mean nothing."""


# --- the machine --------------------------------------------------------------------------------


def machine(packages: Iterable[str]) -> dict[str, object]:
    """What ran the benchmark, with the versions of the installed `packages` that matter to it."""
    from services.devstack.dynamodb_local import NPM_PACKAGE, NPM_VERSION

    cpu_model = "unknown"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    memory_gib = None
    with contextlib.suppress(OSError, ValueError), open("/proc/meminfo") as meminfo:
        memory_gib = round(int(meminfo.readline().split()[1]) / 2**20, 1)
    java = "unknown"
    with contextlib.suppress(OSError, subprocess.SubprocessError, IndexError):
        result = subprocess.run(
            ["java", "-version"], capture_output=True, text=True, timeout=30, check=False
        )
        java = (result.stderr or result.stdout).splitlines()[0].strip()
    versions = {}
    for name in packages:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            versions[name] = importlib.metadata.version(name)
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


def load_average(*, consequence: str | None = None) -> float:
    """The 1-minute load average; with `consequence`, a note on stderr when the machine is busy."""
    load = os.getloadavg()[0]
    if consequence is not None and load > BUSY_LOAD_AVERAGE:
        progress(f"note: 1-minute load average is {load:.2f} before starting; {consequence}")
    return round(load, 2)


# --- the local stack and child processes --------------------------------------------------------


def local_settings(kind: type[SettingsT], **fields: object) -> SettingsT:
    """Settings of `kind` with the run's dummy credentials and region, plus `fields`."""
    from pydantic import SecretStr

    values: dict[str, Any] = {
        "aws_access_key_id": ACCESS_KEY_ID,
        "aws_secret_access_key": SecretStr(SECRET_ACCESS_KEY),
        "region": REGION,
        **fields,
    }
    return kind(**values)


def om_environment(**settings: object) -> dict[str, str]:
    """`OM_*` variables for a child `om` process: dummy credentials, region and `settings`."""
    values: dict[str, object] = {
        "aws_access_key_id": ACCESS_KEY_ID,
        "aws_secret_access_key": SECRET_ACCESS_KEY,
        "region": REGION,
        **settings,
    }
    return {f"OM_{name.upper()}": str(value) for name, value in values.items() if value is not None}


def om_executable() -> str:
    """The `om` console script installed next to this interpreter (what the container runs)."""
    script = Path(sys.executable).with_name("om")
    if not script.is_file():
        raise SystemExit(f"error: no `om` console script next to {sys.executable}; run `uv sync`")
    return str(script)


@contextlib.contextmanager
def dynamodb_local(log: Path) -> Iterator[DynamoDBLocal]:
    """One in-memory DynamoDB Local writing to `log`, stopped on leaving."""
    from services.devstack.dynamodb_local import DynamoDBLocal

    with log.open("wb") as output, DynamoDBLocal(log=output) as server:
        yield server


@contextlib.contextmanager
def moto_server(log: Path) -> Iterator[str]:
    """moto's server (S3 here) on a free port, serialized as `om dev` runs it; its endpoint."""
    from services.devstack.processes import free_port, spawn, stop, wait_for_port

    port = free_port()
    command = [sys.executable, "-m", "services.devstack.moto_server", "--port", str(port)]
    with log.open("wb") as output:
        process = spawn([*command, "--serialize"], log=output)
    try:
        wait_for_port("127.0.0.1", port, timeout=60, process=process)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(process)


@dataclass(frozen=True)
class LocalStack:
    """DynamoDB Local (in memory) and moto's S3 with the run's table and bucket created."""

    dynamodb_url: str
    s3_url: str
    clients: AwsClients
    dynamodb_pid: int

    def om_settings(self, table: str, bucket: str) -> dict[str, object]:
        """The `OM_*` settings (without the prefix) that point `om` commands at this stack."""
        return {
            "table_name": table,
            "bucket_name": bucket,
            "dynamodb_endpoint_url": self.dynamodb_url,
            "s3_endpoint_url": self.s3_url,
            "log_level": "WARNING",
        }


@contextlib.contextmanager
def local_stack(work: Path, *, table: str, bucket: str) -> Iterator[LocalStack]:
    """Start DynamoDB Local and moto in `work`, create `table` and `bucket`; stop both after."""
    from shared.repository import ensure_bucket, ensure_table, make_clients
    from shared.settings import AwsSettings

    work.mkdir(parents=True, exist_ok=True)
    with dynamodb_local(work / "dynamodb.log") as dynamodb, moto_server(work / "moto.log") as s3:
        settings = local_settings(
            AwsSettings,
            table_name=table,
            bucket_name=bucket,
            dynamodb_endpoint_url=dynamodb.endpoint_url,
            s3_endpoint_url=s3,
            read_timeout_seconds=10.0,
        )
        clients = make_clients(settings)
        ensure_table(clients.dynamodb, table)
        ensure_bucket(clients.s3, bucket, settings.region)
        process = dynamodb._process  # the JVM: a run may pause or kill it
        if process is None:
            raise BenchError("DynamoDB Local has no process")
        yield LocalStack(dynamodb.endpoint_url, s3, clients, process.pid)


@contextlib.contextmanager
def om_api(
    settings: Mapping[str, object],
    log: Path,
    *,
    timeout: float = 60.0,
    cpus: Iterable[int] | None = None,
) -> Iterator[str]:
    """`om api` as the container runs it, on a free port with `settings` (OM_* names without the
    prefix) and the run's dummy credentials; yields its base URL once `/api/health/live` is up.
    Given `cpus`, the process and its threads run on those CPUs only."""
    import httpx

    from services.devstack.processes import free_port, spawn, stop

    port = free_port()
    variables = om_environment(api_host="127.0.0.1", api_port=port, **settings)
    # `env` execs `om` in place, so the child keeps `spawn`'s die-with-parent hook.
    command = ["/usr/bin/env", *(f"{k}={v}" for k, v in variables.items()), om_executable(), "api"]
    with log.open("wb") as output:
        process = spawn(command, log=output)
    if cpus is not None:
        # Before it starts its threads (they inherit it); `env` has exec'd `om` by the time
        # the port answers, but the affinity of a pid survives exec either way.
        os.sched_setaffinity(process.pid, set(cpus))
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise BenchError(f"`om api` exited with status {process.returncode}: {tail(log)}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{base_url}/api/health/live", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise BenchError(f"{base_url}/api/health/live did not answer 200 in time")
            time.sleep(0.1)
        yield base_url
    finally:
        stop(process)


def die_with_parent() -> None:
    """preexec hook: Linux SIGTERMs the child if this process dies without cleaning up."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def tail(path: Path, chars: int = 1500) -> str:
    """The end of a log file, for error messages."""
    with contextlib.suppress(OSError):
        return f"{path}:\n{path.read_text(errors='replace')[-chars:]}"
    return str(path)


def _raise_keyboard_interrupt(signum: int, _: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def run_benchmark(main: Callable[[], int], *, stopped: str) -> NoReturn:
    """Exit with `main()`'s status; Ctrl-C, SIGTERM and SIGHUP unwind it and exit 130.

    Unwinding runs every `with` block and ExitStack callback on the way out, which is how each
    benchmark stops its clients and child processes.
    """
    # SIGINT too: a job started in the background from a shell ignores it by default.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    signal.signal(signal.SIGHUP, _raise_keyboard_interrupt)
    try:
        status = main()
    except KeyboardInterrupt:
        print(f"interrupted: {stopped}", file=sys.stderr)
        sys.exit(130)
    sys.exit(status)


# --- data ---------------------------------------------------------------------------------------

SEED_PRICE_LEVELS = tuple(Decimal("100.00") + Decimal("0.25") * level for level in range(10))


def seed_resting_orders(
    client: Any, table: str, symbol: str, orders: int, first_id: int, seed_value: int
) -> int:
    """`orders` resting orders of 10-20 lots on (symbol, side 0) at ten price levels, written 25
    per BatchWriteItem (straight to the table: seeding is not what a run measures); the lots
    seeded."""
    from shared.codecs import order_to_item
    from shared.models import Order, Side, new_write_token

    rng = random.Random(seed_value)
    now = datetime.now(UTC)
    items = []
    total = 0
    for index in range(orders):
        amount = rng.randint(10, 20)
        total += amount
        order = Order(
            id=first_id + index,
            symbol=symbol,
            side=Side.BUY,
            amount=amount,
            price=rng.choice(SEED_PRICE_LEVELS),
            sequence=f"{time.time_ns() + index:019d}.0000beef",
            version=1,
            created_at=now,
            updated_at=now,
            account="maker",
            token=new_write_token(),
        )
        items.append({"PutRequest": {"Item": order_to_item(order)}})
    for start in range(0, len(items), 25):
        pending: Any = {table: items[start : start + 25]}
        while pending:
            pending = client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
    return total


# --- figures ------------------------------------------------------------------------------------


def percentile(values: Sequence[float], cut: int) -> float:
    """The `cut`-th percentile, interpolated (inclusive method)."""
    if len(values) == 1:
        return float(values[0])
    return statistics.quantiles(values, n=100, method="inclusive")[cut - 1]


def mean(values: Sequence[float]) -> float:
    """Arithmetic mean; 0 for no values."""
    return sum(values) / len(values) if values else 0.0


# --- output -------------------------------------------------------------------------------------

_STARTED = time.monotonic()


def progress(message: str) -> None:
    """A line on stderr while the benchmark runs, with the seconds since it started."""
    print(f"[{time.monotonic() - _STARTED:6.1f} s] {message}", file=sys.stderr, flush=True)


def print_table(
    header: Sequence[str],
    rows: Iterable[Sequence[object]],
    *,
    align: str = "",
    indent: str = "",
) -> None:
    """Columns as wide as their widest cell; `align` has `<` or `>` per column (default: the
    first left, the rest right). None prints as `-`."""
    cells = [list(header), *([_cell(value) for value in row] for row in rows)]
    aligns = align or "<" + ">" * (len(header) - 1)
    widths = [max(len(row[column]) for row in cells) for column in range(len(header))]
    for row in cells:
        line = "  ".join(
            f"{cell:{side}{width}}" for cell, side, width in zip(row, aligns, widths, strict=True)
        )
        print(indent + line.rstrip())


def _cell(value: object) -> str:
    return "-" if value is None else str(value)


def print_machine(about: Mapping[str, object]) -> None:
    """The machine description, one `key: value` a line."""
    print("machine:")
    for key, value in about.items():
        print(f"  {key}: {value}")


def utc_stamp(moment: datetime) -> str:
    """`2026-11-25T13:59:00Z`."""
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def print_summary(summary: Mapping[str, object]) -> None:
    """The JSON summary, always the last line of a benchmark's output."""
    print(json.dumps(summary, separators=(",", ":"), ensure_ascii=False, default=str), flush=True)
