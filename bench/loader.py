"""Rows/s, client CPU per row and peak RSS of the batch loader, next to a hand-written baseline.

Contenders. Each measured one is a process of its own, started through a small launcher that
reports its `wait4` rusage, so CPU time (`ru_utime + ru_stime`, all threads, startup included) and
peak RSS (`ru_maxrss`) are that process's alone:

* `loader`    `om load-job --bucket B --key K`, exactly what the Batch job runs, on a load created
              with `BatchLoadService.start()` whose CSV is PUT to the presigned URL (S3 is a moto
              server). Its wall time includes Python startup, the download and the load record
              writes: it is end to end. Its JSON log gives the phases (startup until `load
              started`, the job until `load succeeded`, exit); the download is timed apart with
              the same client call, just before.
* `baseline`  what a user writes by hand (the `baseline` role of this script): `csv.DictReader`
              and boto3's `Table.batch_writer()`, one `put_item` per row with the attributes the
              service writes (numbers as `Decimal`), single-threaded, reading the local file.
* `ceiling`   DynamoDB Local only, run in this process: a bare parallel TransactWriteItems
              writer. The loader's own requests (`LoadTransactions`: 99 conditional row Puts and
              the batch's marker each), encoded before the clock starts, sent by N threads (the
              best of a short sweep) over keep-alive connections with one signature (DynamoDB
              Local does not check them). Its rate is what the engine sustains for the loader's
              kind of write here.

Setups:

(a) DynamoDB Local (in memory), end to end; every run writes a fresh table. The ceiling is measured
    right before and right after the loader on the same file and averaged, and the loader's
    rows/s is reported as a share of it. Other work on the machine moves these figures a lot (see
    the `others` column), so rows per JVM CPU second are shown too: equal figures mean the
    loader's calls cost the engine no more than the bare writer's.
(b) A null DynamoDB endpoint behind a delay (the `null-endpoint` role, a separate asyncio
    process): every request is held `--delay-ms` (a non-blocking sleep, so concurrent requests
    overlap as they do on a network), then TransactWriteItems is answered `{}` (and the
    baseline's BatchWriteItem `{"UnprocessedItems":{}}`) and the order Puts are counted, and any
    other call (the loader's load record calls) is forwarded to DynamoDB Local. The delaying
    proxy, the null endpoint and that router are one process on purpose: on a 2-core machine a
    second Python hop would take CPU from the loader without modelling anything the sleep does not.
    A run over a header-only file gives the loader's fixed cost (startup, record writes), so a
    marginal CPU per row is shown too.

The files hold valid orders with distinct random ids (12 symbols, Buy/Sell, 2-decimal prices).
Every run is checked: the load ends SUCCEEDED with every row loaded, and the table (a) or the null
endpoint (b) holds exactly the rows written (the table: orders, the load record and one marker per
batch the loader's log reports). Before measuring, one loader and one baseline run
fill a bytecode cache for the children (see `child_env`). The baseline runs on `--baseline-rows`
only (100k by default: at ~2k rows/s, 1M would take 8 minutes per setup); the default run takes
10-15 minutes on 2 cores. Figures only, no verdicts (bench/README.md reads them against the
targets); the last line is a JSON summary. Ctrl-C, SIGTERM and SIGHUP stop every child process.

    uv run python -m bench.loader [--rows 100k,1M] [--local-rows 100k,1M] [--baseline-rows 100k]
        [--delay-ms 5] [--workers N] [--ceiling-threads N] [--no-bracket] [--skip-local]
        [--skip-null] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import http.client
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.harness import (
    ACCESS_KEY_ID,
    REGION,
    SECRET_ACCESS_KEY,
    BenchError,
    die_with_parent,
    dynamodb_local,
    load_average,
    local_settings,
    machine,
    om_environment,
    om_executable,
    print_machine,
    print_summary,
    print_table,
    progress,
    run_benchmark,
    tail,
    utc_stamp,
)
from services.devstack.processes import spawn, stop
from shared import keys
from shared.models import Side
from shared.repository.load_writer import ROW_CONDITION

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

    from shared.repository import AwsClients

PACKAGES = ("boto3", "botocore", "urllib3", "moto", "uvloop")
HEADER = "orderId,symbol,side,amount,price"
ACCOUNT = "bench"
SYMBOLS = ("AAPL", "MSFT", "GOOG", "AMZN", "NVDA", "META", "TSLA", "BRK.B", "JPM", "V", "XOM", "KO")
MIN_ROWS = 1000
ROW_PUT = json.dumps(ROW_CONDITION).encode()
"""The condition of every order Put of the loader's transactions, once, and nowhere else."""
CHILD_TIMEOUT_SECONDS = 1800.0


# --- the files -------------------------------------------------------------------------------


def write_orders_csv(path: Path, rows: int, seed: int) -> None:
    """`rows` valid orders with distinct ids in random order, as a client would upload them."""
    rng = random.Random(seed)
    ids = rng.sample(range(1, 10**12), rows)
    sides = ("Buy", "Sell")
    with path.open("w", encoding="utf-8", newline="") as target:
        target.write(HEADER + "\n")
        chunk: list[str] = []
        for order_id in ids:
            cents = rng.randrange(100, 10_000_000)
            chunk.append(
                f"{order_id},{rng.choice(SYMBOLS)},{sides[order_id & 1]},"
                f"{rng.randrange(1, 5000)},{cents // 100}.{cents % 100:02d}\n"
            )
            if len(chunk) == 10_000:
                target.write("".join(chunk))
                chunk.clear()
        target.write("".join(chunk))


# --- role: the null endpoint (a child process) -----------------------------------------------


class NullEndpoint:
    """HTTP/1.1 keep-alive server: delayed null writes, everything else forwarded."""

    def __init__(self, delay: float, forward_url: str) -> None:
        self.delay = delay
        self.forward_url = forward_url
        self.batch_requests = 0
        self.transactions = 0
        self.items = 0
        self.forwarded = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Serve one connection until the client closes it."""
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                request_line, *header_lines = head.decode("latin-1").split("\r\n")
                method, target, _ = request_line.split(" ", 2)
                headers: dict[str, str] = {}
                for line in header_lines:
                    name, _, value = line.partition(":")
                    if name:
                        headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                status, payload = await self.answer(method, target, headers, body)
                writer.write(
                    b"HTTP/1.1 %d %s\r\nContent-Type: application/x-amz-json-1.0\r\n"
                    b"Content-Length: %d\r\nx-amzn-RequestId: null\r\n\r\n%s"
                    % (status, b"OK" if status == 200 else b"Error", len(payload), payload)
                )
                await writer.drain()
                if headers.get("connection", "").lower() == "close":
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        except asyncio.CancelledError:
            return  # shutting down with the connection open: end quietly, nothing is pending
        finally:
            writer.close()

    async def answer(
        self, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, bytes]:
        """Status and body of the response to one request."""
        if method == "GET" and target == "/stats":
            stats = {
                "batch_requests": self.batch_requests,
                "transactions": self.transactions,
                "items": self.items,
            }
            return 200, json.dumps(stats | {"forwarded": self.forwarded}).encode()
        await asyncio.sleep(self.delay)
        target_name = headers.get("x-amz-target", "")
        if target_name.endswith(".TransactWriteItems"):
            self.transactions += 1
            self.items += body.count(ROW_PUT)
            return 200, b"{}"
        if target_name.endswith(".BatchWriteItem"):
            self.batch_requests += 1
            self.items += body.count(b"PutRequest")
            return 200, b'{"UnprocessedItems":{}}'
        self.forwarded += 1
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, self.forward, headers, body)

    def forward(self, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
        """Pass a request on to DynamoDB Local (it does not check signatures)."""
        request = urllib.request.Request(self.forward_url, data=body, method="POST")
        for name in ("content-type", "x-amz-target", "authorization", "x-amz-date"):
            if name in headers:
                request.add_header(name, headers[name])
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return int(response.status), bytes(response.read())
        except urllib.error.HTTPError as error:
            return error.code, error.read()


def serve_null_endpoint(argv: Sequence[str]) -> int:
    """The `null-endpoint` role: serve until SIGTERM/SIGINT."""
    parser = argparse.ArgumentParser(prog="bench/loader.py null-endpoint")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--delay-ms", type=float, required=True)
    parser.add_argument("--forward", required=True, help="DynamoDB endpoint for other calls")
    args = parser.parse_args(argv)
    endpoint = NullEndpoint(args.delay_ms / 1000, args.forward)

    async def serve() -> None:
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stopping.set)
        server = await asyncio.start_server(endpoint.handle, "127.0.0.1", args.port, backlog=512)
        async with server:
            print(f"null endpoint: listening on {args.port}", flush=True)
            await stopping.wait()

    loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = None
    with contextlib.suppress(ImportError):
        import uvloop  # a leaner event loop keeps the endpoint's CPU off the loader's share

        loop_factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(serve())
    return 0


# --- role: the hand-written baseline (a child process) ---------------------------------------


def run_baseline(argv: Sequence[str]) -> int:
    """The `baseline` role: what a user writes by hand with boto3. Prints `{"rows": n}`."""
    parser = argparse.ArgumentParser(prog="bench/loader.py baseline")
    parser.add_argument("--file", type=Path, required=True)
    parser.add_argument("--table", required=True)
    parser.add_argument("--endpoint", required=True)
    args = parser.parse_args(argv)

    import boto3

    table = boto3.resource(
        "dynamodb",
        endpoint_url=args.endpoint,
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY_ID,
        aws_secret_access_key=SECRET_ACCESS_KEY,
    ).Table(args.table)
    now = datetime.now(UTC)
    stamp = now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    base_ns = int(now.timestamp()) * 1_000_000_000
    sides = {"buy": Side.BUY, "sell": Side.SELL, "0": Side.BUY, "1": Side.SELL}
    rows = 0
    with args.file.open(encoding="utf-8-sig", newline="") as source, table.batch_writer() as batch:
        for line, row in enumerate(csv.DictReader(source), start=2):
            order_id = int(row["orderId"])
            symbol = row["symbol"].strip().upper()
            side = sides[row["side"].strip().lower()]
            price = Decimal(row["price"])
            sequence = f"{base_ns + line:019d}.00000000"
            batch.put_item(
                Item={
                    "PK": keys.order_pk(order_id),
                    "SK": keys.order_sk(),
                    "entity": keys.ORDER_ENTITY,
                    "version": 1,
                    "GSI1PK": keys.book_pk(symbol, side),
                    "GSI1SK": keys.book_sk(side, price, sequence),
                    "id": order_id,
                    "symbol": symbol,
                    "side": int(side),
                    "amount": int(row["amount"]),
                    "price": price,
                    "sequence": sequence,
                    "createdAt": stamp,
                    "updatedAt": stamp,
                }
            )
            rows += 1
    print(json.dumps({"rows": rows}), flush=True)
    return 0


# --- measured child processes ----------------------------------------------------------------


@dataclass(frozen=True)
class Usage:
    """What `wait4` says about one finished child, and when it ran."""

    exit_code: int
    started_epoch: float
    wall_s: float
    cpu_s: float
    max_rss_mib: float


# Linux carries the peak RSS of the address space a process replaces at exec into its own
# ru_maxrss, so a child forked (or vforked) from this process, which holds request bodies and
# boto3, would report at least this process's peak. The measured command is therefore started by
# this small launcher (`python -S`, ~10 MiB), which posix_spawns it, waits for it with `wait4` and
# writes its rusage to a file. It passes SIGTERM/SIGINT/SIGHUP on and SIGKILLs the command 5 s
# later (`om load-job` drains its writers on SIGTERM, which waits out a dead endpoint), so stopping
# the launcher, or this process dying (the launcher gets SIGTERM then), stops the command.
LAUNCHER = """
import json, os, signal, sys, time
report, argv = sys.argv[1], sys.argv[2:]
child = []
def send(signum):
    if child:
        try:
            os.kill(child[0], signum)
        except ProcessLookupError:
            pass
def forward(signum, _):
    send(signum)
    signal.alarm(5)
for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
    signal.signal(signum, forward)
signal.signal(signal.SIGALRM, lambda *_: send(signal.SIGKILL))
epoch, began = time.time(), time.perf_counter()
child.append(os.posix_spawn(argv[0], argv, os.environ))
_, status, usage = os.wait4(child[0], 0)
wall = time.perf_counter() - began
code = os.waitstatus_to_exitcode(status)
with open(report, "w") as out:
    json.dump({"exit_code": code, "started_epoch": epoch, "wall_s": wall,
               "cpu_s": usage.ru_utime + usage.ru_stime, "max_rss_kib": usage.ru_maxrss}, out)
"""


def child_env(work: Path, settings: dict[str, str]) -> dict[str, str]:
    """This environment without the caller's OM_/AWS_ settings, plus `settings`.

    Compiled bytecode is cached under `work` even where PYTHONDONTWRITEBYTECODE is set (it is on
    this machine, and the venv holds no .pyc): otherwise every child compiles boto3, pydantic and
    the project from source, a second of CPU no container built with UV_COMPILE_BYTECODE pays.
    """
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("OM_", "AWS_", "PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX"))
    }
    env |= {"AWS_EC2_METADATA_DISABLED": "true", "PYTHONPYCACHEPREFIX": str(work / "pycache")}
    return env | settings


def run_measured(
    command: Sequence[str], *, env: dict[str, str], stdout: Path, stderr: Path
) -> Usage:
    """Run `command` to its end through the launcher: its own wall time, CPU and peak RSS."""
    report = stdout.with_suffix(".rusage.json")
    report.unlink(missing_ok=True)
    with stdout.open("wb") as out, stderr.open("wb") as err:
        process = subprocess.Popen(
            [sys.executable, "-S", "-c", LAUNCHER, str(report), *command],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            preexec_fn=die_with_parent,
        )
        try:
            process.wait(CHILD_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired as error:
            raise BenchError(f"{command[0]} ran longer than {CHILD_TIMEOUT_SECONDS} s") from error
        finally:
            if process.poll() is None:  # timed out or interrupted: stop the command too
                stop(process)  # SIGTERM reaches the launcher, which passes it on
    try:
        figures = json.loads(report.read_text())
    except (OSError, ValueError) as error:
        raise BenchError(f"{command[0]}: the launcher left no usage report ({error})") from error
    return Usage(
        exit_code=figures["exit_code"],
        started_epoch=figures["started_epoch"],
        wall_s=figures["wall_s"],
        cpu_s=figures["cpu_s"],
        max_rss_mib=figures["max_rss_kib"] / 1024,
    )


def spawn_server(command: Sequence[str], log: Path, work: Path) -> subprocess.Popen[bytes]:
    """A helper server process whose output goes to `log`."""
    with log.open("wb") as out:
        return spawn(command, log=out, env=child_env(work, {}))


# --- CPU meters --------------------------------------------------------------------------------

_TICKS = os.sysconf("SC_CLK_TCK")


def machine_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of every CPU since boot, from /proc/stat."""
    with open("/proc/stat") as stat:
        fields = [int(value) for value in stat.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def process_cpu_seconds(pid: int) -> float:
    """user + system CPU seconds of a running process, its threads included."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICKS


@dataclass
class CpuMeter:
    """Machine busy share and the CPU of known processes over one measured interval."""

    processes: dict[str, int]

    def __post_init__(self) -> None:
        self._machine = machine_ticks()
        self._began = time.perf_counter()
        self._cpu = {name: process_cpu_seconds(pid) for name, pid in self.processes.items()}

    def read(self, child_cpu_s: float = 0.0) -> dict[str, float]:
        """Percentages (100 = one core): each known process, and `others`, what is left of the
        machine's busy time once they and the measured child (`child_cpu_s`) are taken out:
        other work on the machine, which slows every contender down."""
        busy, total = machine_ticks()
        elapsed = time.perf_counter() - self._began
        figures = {
            "machine_busy_pct": 100 * (busy - self._machine[0]) / max(1, total - self._machine[1])
        }
        known = child_cpu_s
        for name, pid in self.processes.items():
            used = process_cpu_seconds(pid) - self._cpu[name]
            known += used
            figures[f"{name}_cpu_pct"] = 100 * used / elapsed
        figures["others_cpu_pct"] = max(
            0.0, 100 * ((busy - self._machine[0]) / _TICKS - known) / elapsed
        )
        return {name: round(value, 1) for name, value in figures.items()}


# --- the stack: DynamoDB Local, moto S3, the null endpoint -----------------------------------


@dataclass
class Stack:
    """The running servers, clients to them and a folder for files and logs."""

    work: Path
    dynamodb_url: str
    s3_url: str
    null_url: str
    clients: AwsClients
    bucket: str
    server_pids: dict[str, int]

    @property
    def dynamodb(self) -> DynamoDBClient:
        """A boto3 client of DynamoDB Local (not through the null endpoint)."""
        return self.clients.dynamodb

    def fresh_table(self, label: str) -> str:
        """A new empty table (DynamoDB Local); the caller drops it."""
        from shared.repository import ensure_table

        name = f"om-bench-{label}-{uuid.uuid4().hex[:8]}"
        ensure_table(self.dynamodb, name)
        return name

    def drop_table(self, name: str) -> None:
        """Delete a table so DynamoDB Local's memory stays flat across runs."""
        from shared.repository.admin import delete_table

        delete_table(self.dynamodb, name)

    def item_count(self, table: str) -> int:
        """Items in a table. DynamoDB Local keeps DescribeTable's ItemCount exact and current
        (AWS refreshes it every few hours); a COUNT scan of 100k items takes it a minute."""
        return self.dynamodb.describe_table(TableName=table)["Table"]["ItemCount"]

    def null_stats(self) -> dict[str, int]:
        """Requests and items the null endpoint has answered so far."""
        with urllib.request.urlopen(f"{self.null_url}/stats", timeout=10) as response:
            stats: dict[str, int] = json.loads(response.read())
        return stats

    def loader_settings(self, table: str, dynamodb_url: str, workers: int | None) -> dict[str, str]:
        """The OM_* environment of one `om load-job` run."""
        return om_environment(
            table_name=table,
            bucket_name=self.bucket,
            dynamodb_endpoint_url=dynamodb_url,
            s3_endpoint_url=self.s3_url,
            download_dir=self.work / "downloads",
            log_level="INFO",
            load_workers=workers,  # None: the loader's own default
        )


@contextlib.contextmanager
def running_stack(work: Path, delay_ms: float) -> Iterator[Stack]:
    """DynamoDB Local (in memory), a moto server for S3 and the null endpoint; all stopped after."""
    from services.devstack.processes import free_port, wait_for_port
    from shared.repository import ensure_bucket, make_clients
    from shared.settings import AwsSettings

    with contextlib.ExitStack() as stack:
        dynamodb = stack.enter_context(dynamodb_local(work / "dynamodb-local.log"))
        moto_port, null_port = free_port(), free_port()
        moto = spawn_server(
            [sys.executable, "-m", "services.devstack.moto_server", "--port", str(moto_port)],
            work / "moto.log",
            work,
        )
        stack.callback(stop, moto)
        null = spawn_server(
            [
                sys.executable,
                str(Path(__file__).resolve()),
                "null-endpoint",
                "--port",
                str(null_port),
                "--delay-ms",
                str(delay_ms),
                "--forward",
                dynamodb.endpoint_url,
            ],
            work / "null-endpoint.log",
            work,
        )
        stack.callback(stop, null)
        wait_for_port("127.0.0.1", moto_port, timeout=60, process=moto)
        wait_for_port("127.0.0.1", null_port, timeout=30, process=null)
        settings = local_settings(
            AwsSettings,
            bucket_name=f"om-bench-{uuid.uuid4().hex[:8]}",
            dynamodb_endpoint_url=dynamodb.endpoint_url,
            s3_endpoint_url=f"http://127.0.0.1:{moto_port}",
            read_timeout_seconds=60,
        )
        clients = make_clients(settings)
        ensure_bucket(clients.s3, settings.bucket_name, REGION)
        yield Stack(
            work=work,
            dynamodb_url=dynamodb.endpoint_url,
            s3_url=f"http://127.0.0.1:{moto_port}",
            null_url=f"http://127.0.0.1:{null_port}",
            clients=clients,
            bucket=settings.bucket_name,
            server_pids={
                "jvm": jvm_pid(dynamodb.port),
                "null_endpoint": null.pid,
                "moto": moto.pid,
                "bench": os.getpid(),
            },
        )


def jvm_pid(port: int) -> int:
    """The pid of our DynamoDB Local JVM (a child of this process listening on `port`)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            command = (entry / "cmdline").read_bytes().split(b"\0")
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            jar = any(argument.endswith(b"DynamoDBLocal.jar") for argument in command)
            if parent == os.getpid() and jar and str(port).encode() in command:
                return int(entry.name)
    return 0


# --- the contenders --------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    """One contender over one file."""

    contender: str
    setup: str
    rows: int
    wall_s: float
    rows_per_s: float
    cpu_us_per_row: float | None = None
    cpu_s: float | None = None
    max_rss_mib: float | None = None
    meters: dict[str, float] | None = None
    phases: dict[str, float] | None = None
    note: str = ""

    @classmethod
    def measured(
        cls,
        contender: str,
        *,
        setup: str,
        rows: int,
        usage: Usage,
        meters: dict[str, float],
        phases: dict[str, float] | None = None,
    ) -> Run:
        """A contender's run as the launcher measured its process."""
        return cls(
            contender=contender,
            setup=setup,
            rows=rows,
            wall_s=usage.wall_s,
            rows_per_s=rows / usage.wall_s,
            cpu_us_per_row=usage.cpu_s / rows * 1e6 if rows else None,
            cpu_s=usage.cpu_s,
            max_rss_mib=usage.max_rss_mib,
            meters=meters,
            phases=phases,
        )


def loader_run(
    stack: Stack,
    *,
    setup: str,
    path: Path,
    rows: int,
    table: str,
    dynamodb_url: str,
    workers: int | None,
    label: str,
) -> Run:
    """`om load-job` over a fresh upload of `path`; checks the load and the rows written."""
    import httpx

    from services.loader.job import EXIT_DONE
    from shared.batch_loads import BatchLoadService
    from shared.models import LoadStatus
    from shared.repository.loads import LoadRepository
    from shared.repository.uploads import UploadStore

    loads = LoadRepository(stack.dynamodb, table)
    uploads = UploadStore(stack.clients.s3)
    service = BatchLoadService(
        loads,
        uploads,
        bucket=stack.bucket,
        upload_prefix="uploads/",
        url_lifetime=timedelta(minutes=30),
    )
    load, url = service.start(ACCOUNT)
    response = httpx.put(url, content=path.read_bytes(), timeout=300)
    if response.status_code != 200:
        raise BenchError(f"upload of {path.name} answered {response.status_code}")
    # The download as the loader makes it (boto3 `download_file` from moto), timed apart.
    scratch = stack.work / "downloads" / f"timed-{load.id}.csv"
    scratch.parent.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    uploads.download(uploads.describe(stack.bucket, load.object_key), scratch)
    download_s = time.perf_counter() - began
    scratch.unlink()

    before = stack.null_stats()
    meter = CpuMeter(stack.server_pids)
    usage = run_measured(
        [om_executable(), "load-job", "--bucket", load.bucket, "--key", load.object_key],
        env=child_env(stack.work, stack.loader_settings(table, dynamodb_url, workers)),
        stdout=stack.work / f"loader-{label}.out",
        stderr=stack.work / f"loader-{label}.log",
    )
    meters = meter.read(usage.cpu_s)
    log = stack.work / f"loader-{label}.log"
    if usage.exit_code != EXIT_DONE:
        raise BenchError(f"om load-job exited {usage.exit_code}; see {tail(log)}")
    finished = loads.get(load.id)
    if finished.status != LoadStatus.SUCCEEDED or finished.counts.loaded != rows:
        raise BenchError(f"load {label} ended {finished.status} with {finished.counts}")
    after = stack.null_stats()
    sent = after["items"] - before["items"]
    batches = int(log_entry(log, "load succeeded").get("batches_written", -1))
    if dynamodb_url == stack.null_url:
        transactions = after["transactions"] - before["transactions"]
        if (sent, transactions) != (rows, batches):
            raise BenchError(
                f"load {label}: the null endpoint received {sent} rows in {transactions}"
                f" transactions, not {rows} in {batches}"
            )
    else:
        stored, expected = stack.item_count(table), rows + 1 + batches  # + record, markers
        if stored != expected:
            raise BenchError(f"load {label}: the table holds {stored} items, not {expected}")
    events = log_times(log)
    phases = {"download_timed_apart_s": round(download_s, 3)}
    if "load started" in events and "load succeeded" in events:
        phases |= {
            "startup_s": round(events["load started"] - usage.started_epoch, 3),
            "job_s": round(events["load succeeded"] - events["load started"], 3),
            "exit_s": round(usage.started_epoch + usage.wall_s - events["load succeeded"], 3),
        }
    return Run.measured("loader", setup=setup, rows=rows, usage=usage, meters=meters, phases=phases)


def baseline_run(
    stack: Stack, *, setup: str, path: Path, rows: int, table: str, endpoint: str, label: str
) -> Run:
    """The hand-written boto3 loader over the local file."""
    before = stack.null_stats()
    meter = CpuMeter(stack.server_pids)
    out = stack.work / f"baseline-{label}.out"
    usage = run_measured(
        [
            sys.executable,
            str(Path(__file__).resolve()),
            "baseline",
            "--file",
            str(path),
            "--table",
            table,
            "--endpoint",
            endpoint,
        ],
        env=child_env(stack.work, {}),
        stdout=out,
        stderr=stack.work / f"baseline-{label}.log",
    )
    meters = meter.read(usage.cpu_s)
    if usage.exit_code != 0:
        raise BenchError(f"baseline exited {usage.exit_code}; see {tail(out.with_suffix('.log'))}")
    reported = json.loads(out.read_text().strip().splitlines()[-1])["rows"]
    sent = stack.null_stats()["items"] - before["items"]
    if reported != rows or (endpoint == stack.null_url and sent != rows):
        raise BenchError(f"baseline {label}: wrote {reported} rows, null endpoint saw {sent}")
    return Run.measured("baseline", setup=setup, rows=rows, usage=usage, meters=meters)


def encode_bodies(path: Path, table: str) -> list[bytes]:
    """The loader's TransactWriteItems bodies for `path`: 99 rows and a marker each."""
    from services.loader.csv_rows import ParsedRow, read_orders
    from services.loader.encoding import LoadedOrderEncoder
    from shared.models import BatchLoad, LoadStatus
    from shared.repository.load_writer import (
        MAX_BATCH_ROWS,
        BatchRow,
        LoadBatch,
        LoadTransactions,
    )
    from shared.repository.uploads import UploadedObject

    upload = UploadedObject("bench", "bench.csv", 0, datetime.now(UTC), "0123456789abcdef")
    now = datetime.now(UTC)
    load = BatchLoad("0" * 32, LoadStatus.RUNNING, "bench", "bench.csv", now, now, account=ACCOUNT)
    encoder = LoadedOrderEncoder(upload, load)
    transactions = LoadTransactions(table, load_id=load.id, account=ACCOUNT)
    expires_at = int(time.time()) + 3600
    bodies: list[bytes] = []
    batch: list[BatchRow] = []

    def flush() -> None:
        numbered = LoadBatch(partition=0, number=len(bodies), rows=batch)
        bodies.append(transactions.body(numbered, batch, len(batch), (), expires_at=expires_at))
        batch.clear()

    with path.open(encoding="utf-8-sig", newline="") as source:
        for row in read_orders(source):
            if not isinstance(row, ParsedRow):
                raise BenchError(f"{path.name}: {row}")
            batch.append(BatchRow(row.draft.id, encoder.encode(row), (row.line,)))
            if len(batch) == MAX_BATCH_ROWS:
                flush()
    if batch:
        flush()
    return bodies


def signed_headers(url: str, body: bytes) -> dict[str, str]:
    """SigV4 headers for one TransactWriteItems, reused for every body (Local does not check
    them)."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    request = AWSRequest(
        method="POST",
        url=url,
        data=body,
        headers={
            "Content-Type": "application/x-amz-json-1.0",
            "X-Amz-Target": "DynamoDB_20120810.TransactWriteItems",
        },
    )
    SigV4Auth(Credentials(ACCESS_KEY_ID, SECRET_ACCESS_KEY), "dynamodb", REGION).add_auth(request)
    return {name: value for name, value in request.headers.items() if name.lower() != "host"}


def bare_write(url: str, bodies: Sequence[bytes], threads: int) -> float:
    """Send every body from `threads` threads; the seconds it took. Any refusal is an error
    (the rows are distinct and the table fresh: nothing should conflict)."""
    parts = urllib.parse.urlsplit(url)
    headers = signed_headers(url, bodies[0])
    lock = threading.Lock()
    pending = iter(bodies)
    failures: list[BaseException] = []

    def send() -> None:
        connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, 60)
        try:
            while not failures:
                with lock:
                    body = next(pending, None)
                if body is None:
                    return
                connection.request("POST", "/", body=body, headers=headers)
                response = connection.getresponse()
                payload = response.read()
                if response.status != 200:
                    raise BenchError(f"TransactWriteItems → {response.status}: {payload[:300]!r}")
        except BaseException as error:
            failures.append(error)
        finally:
            connection.close()

    began = time.perf_counter()
    workers = [threading.Thread(target=send, daemon=True) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    seconds = time.perf_counter() - began
    if failures:
        raise BenchError(f"bare writer failed: {failures[0]!r}")
    return seconds


def ceiling_run(
    stack: Stack, *, table: str, bodies: Sequence[bytes], rows: int, threads: int, when: str
) -> Run:
    """The bare writer's rate into `table`, created empty for it: the engine's ceiling."""
    from shared.repository import ensure_table

    ensure_table(stack.dynamodb, table)
    try:
        meter = CpuMeter(stack.server_pids)
        seconds = bare_write(stack.dynamodb_url, bodies, threads)
        meters = meter.read()
        stored, expected = stack.item_count(table), rows + len(bodies)  # orders and markers
        if stored != expected:
            raise BenchError(f"ceiling: the table holds {stored} items, not {expected}")
    finally:
        stack.drop_table(table)
    return Run(
        contender="ceiling",
        setup="dynamodb_local",
        rows=rows,
        wall_s=seconds,
        rows_per_s=rows / seconds,
        meters=meters,
        note=f"{when} the loader; {threads} threads",
    )


def warm_up(stack: Stack, path: Path, levels: Sequence[int]) -> dict[int, float]:
    """Warm the JVM up, then the bare writer's rows/s at each thread count (a short sweep)."""
    table = stack.fresh_table("warmup")
    try:
        bodies = encode_bodies(path, table)
        warm = min(400, len(bodies) // 2)  # up to 40k rows: the JIT's warm-up, not measured
        bare_write(stack.dynamodb_url, bodies[:warm], 16)
        slice_size = min(150, max(1, (len(bodies) - warm) // len(levels)))
        sweep: dict[int, float] = {}
        for index, threads in enumerate(levels):
            chunk = bodies[warm + index * slice_size : warm + (index + 1) * slice_size] or bodies
            seconds = bare_write(stack.dynamodb_url, chunk, threads)
            sweep[threads] = round(sum(b.count(ROW_PUT) for b in chunk) / seconds, 1)
    finally:
        stack.drop_table(table)
    return sweep


# --- helpers -----------------------------------------------------------------------------------


def log_times(path: Path) -> dict[str, float]:
    """Epoch seconds of the loader's JSON log lines, by message (the first of each)."""
    times: dict[str, float] = {}
    for line in path.read_text(errors="replace").splitlines():
        with contextlib.suppress(ValueError, KeyError, TypeError):
            entry = json.loads(line)
            moment = datetime.fromisoformat(entry["ts"].replace("Z", "+00:00")).timestamp()
            times.setdefault(entry["message"], moment)
    return times


def log_entry(path: Path, message: str) -> dict[str, Any]:
    """The loader's first JSON log line with `message` ({} if none)."""
    for line in path.read_text(errors="replace").splitlines():
        with contextlib.suppress(ValueError):
            entry = json.loads(line)
            if isinstance(entry, dict) and entry.get("message") == message:
                return entry
    return {}


# --- the report --------------------------------------------------------------------------------


def marginal_cpu_us_per_row(run: Run, fixed: Run | None) -> float | None:
    """A loader run's CPU per row once the fixed cost (the header-only run) is taken out."""
    if fixed is None or run.contender != "loader" or not run.rows or not run.cpu_s:
        return None
    return (run.cpu_s - (fixed.cpu_s or 0)) / run.rows * 1e6


def print_runs(title: str, runs: Sequence[Run], fixed: Run | None) -> None:
    """One table of runs."""
    print(title)
    rows = []
    for run in runs:
        marginal = marginal_cpu_us_per_row(run, fixed)
        meters = {name: f"{value:.0f}%" for name, value in (run.meters or {}).items()}
        rows.append(
            (
                run.rows,
                run.contender,
                f"{run.rows_per_s:.0f}",
                f"{run.wall_s:.2f}",
                None if run.cpu_us_per_row is None else f"{run.cpu_us_per_row:.1f}",
                None if marginal is None else f"{marginal:.1f}",
                None if run.max_rss_mib is None else f"{run.max_rss_mib:.0f}",
                meters.get("machine_busy_pct"),
                meters.get("jvm_cpu_pct"),
                meters.get("null_endpoint_cpu_pct"),
                meters.get("others_cpu_pct"),
                run.note,
            )
        )
    print_table(
        (
            "rows",
            "contender",
            "rows/s",
            "wall s",
            "CPU µs/row",
            "marginal",
            "peak RSS MiB",
            "machine busy",
            "jvm",
            "null ep",
            "others",
            "",
        ),
        rows,
        align="><" + ">" * 9 + "<",
        indent="  ",
    )
    for run in runs:
        if run.phases:
            phases = ", ".join(f"{k} {v}" for k, v in run.phases.items())
            print(f"  {run.contender}, {run.rows} rows: {phases}")
    if fixed is not None:
        print(
            f"  fixed cost (header-only file): {fixed.wall_s:.2f} s wall, {fixed.cpu_s:.2f} s CPU, "
            f"{fixed.max_rss_mib:.0f} MiB peak RSS; marginal = (CPU − fixed CPU) / rows"
        )
    print(
        "  (CPU % columns: 100 = one core; machine busy = share of all cores; others = busy time "
        "of processes outside this benchmark)"
    )


def rows_per_jvm_second(run: Run) -> float | None:
    """Rows written per CPU second DynamoDB Local spent: the engine's cost per row, whoever feeds
    it. Equal for two contenders means the slower one got less CPU for the JVM, not worse calls."""
    jvm = (run.meters or {}).get("jvm_cpu_pct")
    return round(run.rows_per_s / (jvm / 100)) if jvm else None


def comparisons(
    local: dict[int, dict[str, Run]],
    null: dict[int, dict[str, Run]],
    fixed: Run | None,
) -> dict[str, Any]:
    """The figures the issue's targets are stated in, contender against contender."""
    compared: dict[str, Any] = {}
    for rows, runs in local.items():
        if "ceiling" in runs and "loader" in runs:
            loader = runs["loader"]
            ceilings = [runs[name] for name in ("ceiling", "ceiling_after") if name in runs]
            ceiling = sum(run.rows_per_s for run in ceilings) / len(ceilings)
            job_s = (loader.phases or {}).get("job_s")
            compared[f"a_share_of_ceiling_{rows}"] = {
                "ceiling_rows_per_s": round(ceiling),
                "ceiling_runs": len(ceilings),
                "end_to_end": round(loader.rows_per_s / ceiling, 3),
                "in_job": round(rows / job_s / ceiling, 3) if job_s else None,
                "rows_per_jvm_cpu_s": {
                    "loader": rows_per_jvm_second(loader),
                    "ceiling": [rows_per_jvm_second(run) for run in ceilings],
                },
            }
    baseline = next((runs["baseline"] for runs in null.values() if "baseline" in runs), None)
    for rows, runs in null.items():
        if "loader" not in runs or not rows:
            continue
        loader = runs["loader"]
        entry: dict[str, Any] = {"loader_rows_per_s": round(loader.rows_per_s)}
        if loader.cpu_us_per_row is not None:
            entry["cpu_us_per_row"] = round(loader.cpu_us_per_row, 1)
            marginal = marginal_cpu_us_per_row(loader, fixed)
            if marginal is not None:
                entry["marginal_cpu_us_per_row"] = round(marginal, 1)
        if baseline is not None and baseline.cpu_us_per_row and loader.cpu_us_per_row:
            entry |= {
                "baseline_rows_per_s": round(baseline.rows_per_s),
                "speedup": round(loader.rows_per_s / baseline.rows_per_s, 2),
                "baseline_cpu_us_per_row": round(baseline.cpu_us_per_row, 1),
                "cpu_ratio": round(loader.cpu_us_per_row / baseline.cpu_us_per_row, 3),
            }
        compared[f"b_null_endpoint_{rows}"] = entry
    sized = sorted(
        (rows, runs["loader"]) for rows, runs in null.items() if rows and "loader" in runs
    )
    if len(sized) >= 2 and sized[0][1].max_rss_mib and sized[-1][1].max_rss_mib:
        compared["peak_rss_growth"] = {
            "rows": [sized[0][0], sized[-1][0]],
            "mib": [round(sized[0][1].max_rss_mib, 1), round(sized[-1][1].max_rss_mib, 1)],
            "ratio": round(sized[-1][1].max_rss_mib / sized[0][1].max_rss_mib, 3),
        }
    return compared


def print_comparisons(compared: dict[str, Any]) -> None:
    """The comparisons in words."""
    print("comparisons (bench/README.md reads them against the targets)")
    for name, entry in compared.items():
        if name.startswith("a_share"):
            in_job = entry["in_job"]
            mean = "the mean of the ceilings before and after" if entry["ceiling_runs"] > 1 else ""
            print(
                f"  (a) {name.rsplit('_', 1)[1]} rows: loader at {entry['end_to_end']:.1%} of the "
                f"engine's ceiling ({entry['ceiling_rows_per_s']} rows/s{', ' if mean else ''}"
                f"{mean}) end to end"
                + (f", {in_job:.1%} between 'load started' and 'load succeeded'" if in_job else "")
            )
            per_jvm = entry["rows_per_jvm_cpu_s"]
            print(
                f"      rows per JVM CPU second: loader {per_jvm['loader']}, ceiling "
                f"{per_jvm['ceiling']} (the engine's cost per row is the same when these match)"
            )
        elif name.startswith("b_null"):
            rows = name.rsplit("_", 1)[1]
            if "speedup" in entry:
                print(
                    f"  (b) {rows} rows: ×{entry['speedup']:.1f} the baseline's rows/s; CPU/row "
                    f"{entry['cpu_us_per_row']} vs {entry['baseline_cpu_us_per_row']} µs = "
                    f"×{entry['cpu_ratio']:.2f}"
                )
            if "cpu_us_per_row" in entry:
                marginal = entry.get("marginal_cpu_us_per_row")
                print(
                    f"      loader CPU/row: {entry['cpu_us_per_row']} µs in total"
                    + (f", {marginal} µs marginal" if marginal is not None else "")
                )
        elif name == "peak_rss_growth":
            print(
                f"  peak RSS {entry['rows'][1]} rows / {entry['rows'][0]} rows: "
                f"{entry['mib'][1]} / {entry['mib'][0]} MiB = ×{entry['ratio']:.2f}"
            )


# --- main --------------------------------------------------------------------------------------


def sizes(text: str) -> list[int]:
    """A comma-separated list of row counts (`100k`, `1M` accepted)."""
    result = []
    for part in text.split(","):
        part = part.strip().lower()
        if not part:
            continue
        scale = {"k": 1_000, "m": 1_000_000}.get(part[-1], 1)
        result.append(int(part.rstrip("km")) * scale)
    return sorted(set(result))


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line options of the benchmark itself."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.loader", description=(__doc__ or "").split("\n", 1)[0]
    )
    parser.add_argument(
        "--rows", type=sizes, default=[100_000, 1_000_000], help="loader sizes in (b) [100k,1M]"
    )
    parser.add_argument(
        "--local-rows",
        type=sizes,
        default=[100_000, 1_000_000],
        help="sizes run against DynamoDB Local in (a), ceiling and loader [100k,1M]",
    )
    parser.add_argument(
        "--baseline-rows",
        type=sizes,
        default=[100_000],
        help="sizes the baseline runs in (a) and (b) [100k]; it is ~2k rows/s",
    )
    parser.add_argument("--delay-ms", type=float, default=5.0, help="null endpoint delay [5]")
    parser.add_argument(
        "--workers", type=int, default=None, help="OM_LOAD_WORKERS (default: the loader's own)"
    )
    parser.add_argument(
        "--ceiling-threads",
        type=int,
        default=None,
        help="bare writer threads (default: the best of a short sweep over 8, 16, 32)",
    )
    parser.add_argument(
        "--no-bracket",
        dest="bracket",
        action="store_false",
        help="in (a), measure the ceiling only before the loader, not before and after",
    )
    parser.add_argument("--skip-local", action="store_true", help="skip (a)")
    parser.add_argument("--skip-null", action="store_true", help="skip (b)")
    parser.add_argument(
        "--workdir", type=Path, default=None, help="keep files and logs here (default: a temp dir)"
    )
    args = parser.parse_args(argv)
    if any(n < MIN_ROWS for n in args.rows + args.local_rows + args.baseline_rows):
        parser.error(f"sizes must be at least {MIN_ROWS} rows")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print the report; the last line is the JSON summary."""
    args = parse_args(argv)
    started = datetime.now(UTC)
    about = machine(PACKAGES)
    about["load_average_1m_at_start"] = load_average(
        consequence="other work on this machine slows every contender (see the `others` column)"
    )
    local: dict[int, dict[str, Run]] = {}
    null: dict[int, dict[str, Run]] = {}
    fixed: Run | None = None
    sweep: dict[int, float] = {}
    with contextlib.ExitStack() as stack:
        if args.workdir is None:
            work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="om-bench-load-")))
        else:
            work = args.workdir.resolve()
            work.mkdir(parents=True, exist_ok=True)
        all_sizes = sorted(set(args.rows + args.local_rows + args.baseline_rows))
        files: dict[int, Path] = {}
        for rows in all_sizes:
            files[rows] = work / f"orders-{rows}.csv"
            if not files[rows].is_file():
                progress(f"writing {files[rows].name} …")
                write_orders_csv(files[rows], rows, seed=rows)
        files[0] = work / "orders-0.csv"
        files[0].write_text(HEADER + "\n")
        progress("starting DynamoDB Local, moto (S3) and the null endpoint …")
        env = stack.enter_context(running_stack(work, args.delay_ms))

        records = env.fresh_table("records")
        progress("warming up: one loader and one baseline run on the header-only file …")
        for _ in range(2):  # the first run fills the bytecode cache, the second is warm
            loader_run(
                env,
                setup="warm-up",
                path=files[0],
                rows=0,
                table=records,
                dynamodb_url=env.null_url,
                workers=args.workers,
                label="warm-up",
            )
        baseline_run(
            env,
            setup="warm-up",
            path=files[0],
            rows=0,
            table="om-bench-null",
            endpoint=env.null_url,
            label="warm-up",
        )
        if not args.skip_null:
            for rows in [0, *args.rows]:
                progress(f"(b) loader, {rows} rows, null endpoint behind {args.delay_ms:g} ms …")
                run = loader_run(
                    env,
                    setup="null_endpoint",
                    path=files[rows],
                    rows=rows,
                    table=records,
                    dynamodb_url=env.null_url,
                    workers=args.workers,
                    label=f"null-{rows}",
                )
                if rows:
                    null.setdefault(rows, {})["loader"] = run
                else:
                    fixed = run
            for rows in args.baseline_rows:
                progress(f"(b) baseline, {rows} rows …")
                null.setdefault(rows, {})["baseline"] = baseline_run(
                    env,
                    setup="null_endpoint",
                    path=files[rows],
                    rows=rows,
                    table="om-bench-null",
                    endpoint=env.null_url,
                    label=f"null-{rows}",
                )

        if not args.skip_local:
            progress("(a) warming DynamoDB Local up, sweeping the bare writer's threads …")
            levels = [args.ceiling_threads] if args.ceiling_threads else [8, 16, 32]
            sweep = warm_up(env, files[all_sizes[0]], levels)
            threads = max(sweep, key=lambda level: sweep[level])
            progress(f"    rows/s by threads: {sweep}; ceiling runs use {threads}")
            for rows in args.local_rows:
                results = local.setdefault(rows, {})
                ceiling_table = f"om-bench-ceiling-{uuid.uuid4().hex[:8]}"
                bodies = encode_bodies(files[rows], ceiling_table)
                progress(f"(a) ceiling, {rows} rows …")
                results["ceiling"] = ceiling_run(
                    env,
                    table=ceiling_table,
                    bodies=bodies,
                    rows=rows,
                    threads=threads,
                    when="before",
                )
                progress(f"(a) loader, {rows} rows …")
                table = env.fresh_table("loader")
                try:
                    results["loader"] = loader_run(
                        env,
                        setup="dynamodb_local",
                        path=files[rows],
                        rows=rows,
                        table=table,
                        dynamodb_url=env.dynamodb_url,
                        workers=args.workers,
                        label=f"local-{rows}",
                    )
                finally:
                    env.drop_table(table)
                if args.bracket:
                    progress(f"(a) ceiling again, {rows} rows …")
                    results["ceiling_after"] = ceiling_run(
                        env,
                        table=ceiling_table,
                        bodies=bodies,
                        rows=rows,
                        threads=threads,
                        when="after",
                    )
                del bodies
            for rows in args.baseline_rows:
                progress(f"(a) baseline, {rows} rows …")
                table = env.fresh_table("baseline")
                try:
                    local.setdefault(rows, {})["baseline"] = baseline_run(
                        env,
                        setup="dynamodb_local",
                        path=files[rows],
                        rows=rows,
                        table=table,
                        endpoint=env.dynamodb_url,
                        label=f"local-{rows}",
                    )
                    stored = env.item_count(table)
                    if stored != rows:
                        raise BenchError(f"baseline: the table holds {stored} items, not {rows}")
                finally:
                    env.drop_table(table)

    print()
    print_machine(about)
    print()
    if null:
        print_runs(
            f"(b) null DynamoDB endpoint, {args.delay_ms:g} ms per request",
            [run for rows in sorted(null) for run in null[rows].values()],
            fixed,
        )
        print()
    if local:
        print(f"    bare writer warm-up sweep, rows/s by threads: {sweep}")
        print_runs(
            "(a) DynamoDB Local, end to end",
            [run for rows in sorted(local) for run in local[rows].values()],
            fixed,
        )
        print()
    compared = comparisons(local, null, fixed)
    print_comparisons(compared)

    def figures(runs: dict[int, dict[str, Run]]) -> dict[str, Any]:
        return {
            str(rows): {
                name: {
                    key: round(value, 3) if isinstance(value, float) else value
                    for key, value in asdict(run).items()
                    if key not in ("contender", "setup", "rows") and value not in (None, "")
                }
                for name, run in by_name.items()
            }
            for rows, by_name in sorted(runs.items())
        }

    summary = {
        "benchmark": "bench/loader.py",
        "date": utc_stamp(started),
        "machine": about,
        "options": {
            "rows": args.rows,
            "local_rows": [] if args.skip_local else args.local_rows,
            "baseline_rows": args.baseline_rows,
            "delay_ms": args.delay_ms,
            "workers": args.workers,
        },
        "null_endpoint": figures(null),
        "fixed_cost": figures({0: {"loader": fixed}})["0"]["loader"] if fixed else None,
        "dynamodb_local": figures(local),
        "ceiling_sweep_rows_per_s": {str(k): v for k, v in sweep.items()},
        "comparisons": compared,
    }
    print_summary(summary)
    return 0


ROLES: dict[str, Callable[[Sequence[str]], int]] = {
    "null-endpoint": serve_null_endpoint,
    "baseline": run_baseline,
}

if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] in ROLES:
        sys.exit(ROLES[sys.argv[1]](sys.argv[2:]))
    run_benchmark(main, stopped="every child process was stopped")
