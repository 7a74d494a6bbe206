"""Rows/s of the batch loader on `om dev`'s DynamoDB engine next to in-memory DynamoDB Local.

    uv run python bench/engine.py [--rows 100000] [--repeat 3] [--with-disk] [--workdir DIR]

Sides, each its own DynamoDB Local JVM on a free port, all sharing one moto server for S3:

* `in-memory`  `DynamoDBLocal()` (`-inMemory`): the reference.
* `om-dev`     exactly what `om dev` starts (`services.devstack.emulators.start_dynamodb_local`):
               where /dev/shm has room, a RAM working copy of the data folder's database, saved to
               the data folder when it stops.
* `disk`       (`--with-disk`) DynamoDB Local working in the data folder directly (`-dbPath` on
               disk), which is what `om dev` did before and still does without /dev/shm.

Each run loads the same generated CSV (`orderId,symbol,side,amount,price`, distinct random ids)
into a fresh table the way a user's upload is loaded: the table made by `ensure_table`, a load
started by the API's `BatchLoadService`, the file PUT to its presigned URL, then `om load-job
--bucket B --key K` run as a subprocess with the settings `om dev` exports. rows/s is rows over
that subprocess's wall time (Python start-up and the download included); `job rows/s` is rows
over the load record's startedAt → finishedAt. Every run is checked: SUCCEEDED, every row loaded,
and a COUNT scan of the table finds every order. Sides alternate (`--repeat` rounds) so drift on a
shared machine lands on each alike.

For `om-dev` the script also times a stop (DynamoDB Local exits and the database is saved to the
data folder) and a start on that data (copied back to RAM, JVM up), i.e. what a restart of
`om dev` costs at that size. Figures are printed, never asserted; the last line is JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path
from typing import IO

import httpx
from pydantic import SecretStr

from services.devstack.dynamodb_local import NPM_VERSION, SHARED_DB_FILE, DynamoDBLocal
from services.devstack.emulators import start_dynamodb_local
from services.devstack.environment import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY
from services.devstack.preflight import empty_data_dir
from services.devstack.processes import free_port, spawn, stop, wait_for_port
from shared.batch_loads import BatchLoadService
from shared.models import LoadStatus
from shared.repository import AwsClients, ensure_bucket, ensure_table, make_clients
from shared.repository.loads import LoadRepository
from shared.repository.uploads import UploadStore
from shared.settings import AwsSettings

HEADER = "orderId,symbol,side,amount,price"
SYMBOLS = ("AAPL", "MSFT", "GOOG", "AMZN", "NVDA", "META", "TSLA", "BRK.B", "JPM", "V", "XOM", "KO")
LOAD_TIMEOUT_SECONDS = 3600.0


@dataclass(frozen=True)
class Run:
    """One load of the file on one side."""

    side: str
    round: int
    rows: int
    wall_s: float
    job_s: float
    database_mib: float

    @property
    def rows_per_s(self) -> float:
        """Rows over the loader process's wall time."""
        return self.rows / self.wall_s

    @property
    def job_rows_per_s(self) -> float:
        """Rows over the load record's startedAt → finishedAt."""
        return self.rows / self.job_s


@dataclass(frozen=True)
class Restart:
    """What stopping and starting `om dev`'s DynamoDB Local costs with the loaded data."""

    database_mib: float
    stop_and_save_s: float
    start_with_data_s: float


def write_orders_csv(path: Path, rows: int, seed: int) -> None:
    """`rows` valid orders with distinct random ids, as a client would upload them."""
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8", newline="") as target:
        target.write(HEADER + "\n")
        chunk: list[str] = []
        for order_id in rng.sample(range(1, 10**12), rows):
            cents = rng.randrange(100, 10_000_000)
            chunk.append(
                f"{order_id},{rng.choice(SYMBOLS)},{('Buy', 'Sell')[order_id & 1]},"
                f"{rng.randrange(1, 5000)},{cents // 100}.{cents % 100:02d}\n"
            )
            if len(chunk) == 10_000:
                target.write("".join(chunk))
                chunk.clear()
        target.write("".join(chunk))


@dataclass(frozen=True)
class Endpoints:
    """Where one side's DynamoDB answers, and the SQLite file it writes (if any)."""

    dynamodb_url: str
    database: Path | None


class Bench:
    """Runs loads against each side, with one moto S3 server for all of them."""

    def __init__(self, work: Path, csv_path: Path, rows: int, s3_url: str) -> None:
        self.work = work
        self.csv_path = csv_path
        self.rows = rows
        self.s3_url = s3_url

    def settings(self, dynamodb_url: str, table: str, bucket: str) -> AwsSettings:
        """Settings for this process's own clients (patient: they only stage and check)."""
        return AwsSettings(
            table_name=table,
            bucket_name=bucket,
            dynamodb_endpoint_url=dynamodb_url,
            s3_endpoint_url=self.s3_url,
            aws_access_key_id=ACCESS_KEY_ID,
            aws_secret_access_key=SecretStr(SECRET_ACCESS_KEY),
            region=REGION,
            read_timeout_seconds=120,
        )

    def load(self, side: str, round_: int, endpoints: Endpoints) -> Run:
        """Load the file into a fresh table on `endpoints`; check it; time it."""
        table, bucket = f"om-bench-{uuid.uuid4().hex[:8]}", f"om-bench-{uuid.uuid4().hex[:8]}"
        settings = self.settings(endpoints.dynamodb_url, table, bucket)
        clients = make_clients(settings)
        ensure_table(clients.dynamodb, table)
        ensure_bucket(clients.s3, bucket, REGION)
        service = BatchLoadService(
            LoadRepository(clients.dynamodb, table),
            UploadStore(clients.s3),
            bucket=bucket,
            upload_prefix=settings.upload_prefix,
            url_lifetime=timedelta(minutes=15),
        )
        load, url = service.start("bench")
        with self.csv_path.open("rb") as body:
            httpx.put(url, content=body, timeout=300).raise_for_status()
        log = self.work / f"load-{side}-{round_}.log"
        om = str(Path(sys.executable).parent / "om")
        started = time.perf_counter()
        with log.open("wb") as output:
            status = subprocess.run(
                [om, "load-job", "--bucket", bucket, "--key", load.object_key],
                env=self.child_env(endpoints.dynamodb_url, table, bucket),
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                timeout=LOAD_TIMEOUT_SECONDS,
                check=False,
            ).returncode
        wall = time.perf_counter() - started
        done = service.status(load.id, viewer=None)
        if status != 0 or done.status is not LoadStatus.SUCCEEDED:
            raise RuntimeError(f"{side}: exit {status}, load {done.status}; see {log}")
        if done.counts.loaded != self.rows or count_orders(clients, table) != self.rows:
            raise RuntimeError(f"{side}: the table does not hold every row; see {log}")
        assert done.started_at is not None and done.finished_at is not None
        database = endpoints.database
        size = database.stat().st_size if database is not None and database.exists() else 0
        return Run(
            side=side,
            round=round_,
            rows=self.rows,
            wall_s=wall,
            job_s=(done.finished_at - done.started_at).total_seconds(),
            database_mib=size / 2**20,
        )

    def warm_up(self) -> None:
        """Compile the loader's imports into the bytecode cache before any run is timed."""
        subprocess.run(
            [sys.executable, "-c", "import services.cli, services.loader.cli"],
            env=self.child_env("http://127.0.0.1:9", "warm-up", "warm-up"),
            check=True,
        )

    def child_env(self, dynamodb_url: str, table: str, bucket: str) -> dict[str, str]:
        """The loader's environment: what `om dev` exports to it, nothing from this shell."""
        env = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith(("OM_", "AWS_", "PYTHONDONTWRITEBYTECODE"))
        }
        return env | {
            "OM_TABLE_NAME": table,
            "OM_BUCKET_NAME": bucket,
            "OM_DYNAMODB_ENDPOINT_URL": dynamodb_url,
            "OM_S3_ENDPOINT_URL": self.s3_url,
            "OM_AWS_ACCESS_KEY_ID": ACCESS_KEY_ID,
            "OM_AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
            "OM_REGION": REGION,
            "OM_LOG_LEVEL": "WARNING",
            "OM_DOWNLOAD_DIR": str(self.work / "downloads"),
            # Compiled once under work/, so no run pays for compiling boto3 and pydantic.
            "PYTHONPYCACHEPREFIX": str(self.work / "pycache"),
        }


def count_orders(clients: AwsClients, table: str) -> int:
    """Orders in `table` (not the load record or its batch markers), by a paginated COUNT scan."""
    from shared.codecs import ENTITY
    from shared.keys import ORDER_ENTITY

    pages = clients.dynamodb.get_paginator("scan").paginate(
        TableName=table,
        Select="COUNT",
        FilterExpression="#entity = :order",
        ExpressionAttributeNames={"#entity": ENTITY},
        ExpressionAttributeValues={":order": {"S": ORDER_ENTITY}},
    )
    return sum(page["Count"] for page in pages)


@contextlib.contextmanager
def in_memory(log: IO[bytes]) -> Iterator[Endpoints]:
    """In-memory DynamoDB Local."""
    with DynamoDBLocal(log=log) as dynamodb:
        yield Endpoints(dynamodb.endpoint_url, None)


@contextlib.contextmanager
def on_disk(data_dir: Path, log: IO[bytes]) -> Iterator[Endpoints]:
    """DynamoDB Local working in `data_dir` directly (what `om dev` did before)."""
    shutil.rmtree(data_dir, ignore_errors=True)
    with DynamoDBLocal(data_dir=data_dir, log=log) as dynamodb:
        yield Endpoints(dynamodb.endpoint_url, data_dir / SHARED_DB_FILE)


@contextlib.contextmanager
def as_om_dev(data_dir: Path, log: IO[bytes], *, fresh: bool) -> Iterator[Endpoints]:
    """DynamoDB Local exactly as `om dev` starts it, on `data_dir` (`--fresh` empties it first)."""
    if fresh:
        empty_data_dir(data_dir)
    port = free_port()
    with contextlib.ExitStack() as resources:
        working_copy = start_dynamodb_local(
            port, data_dir, log=log, fresh=fresh, resources=resources
        )
        folder = working_copy.folder if working_copy else data_dir
        yield Endpoints(f"http://127.0.0.1:{port}", folder / SHARED_DB_FILE)


def time_restart(data_dir: Path, log: IO[bytes]) -> Restart:
    """Stop `om dev`'s engine holding the loaded table (saving it), then start it on that data."""
    with contextlib.ExitStack() as stopping:
        endpoints = stopping.enter_context(as_om_dev(data_dir, log, fresh=False))
        assert endpoints.database is not None
        size = endpoints.database.stat().st_size
        started = time.perf_counter()
    stop_and_save = time.perf_counter() - started
    started = time.perf_counter()
    with as_om_dev(data_dir, log, fresh=False):
        start_with_data = time.perf_counter() - started
    return Restart(size / 2**20, stop_and_save, start_with_data)


def main() -> None:
    """Measure, print a table and a JSON summary."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3, help="rounds of alternating sides")
    parser.add_argument("--with-disk", action="store_true", help="also the on-disk engine")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workdir", type=Path, help="default: a new folder under ./.om/")
    arguments = parser.parse_args()
    # SIGTERM unwinds like Ctrl-C, so every JVM is stopped and a RAM working copy removed.
    signal.signal(signal.SIGTERM, signal.default_int_handler)

    root = Path(".om")
    root.mkdir(exist_ok=True)
    work = arguments.workdir or Path(tempfile.mkdtemp(prefix="bench-engine-", dir=root))
    work = work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    csv_path = work / f"orders-{arguments.rows}.csv"
    if not csv_path.exists():
        write_orders_csv(csv_path, arguments.rows, arguments.seed)
    print(f"workdir {work}; {arguments.rows:,} rows; DynamoDB Local {NPM_VERSION}", flush=True)

    runs: list[Run] = []
    restart: Restart | None = None
    moto_port = free_port()
    with contextlib.ExitStack() as stack:
        moto_log = stack.enter_context((work / "moto.log").open("ab"))
        moto = spawn(
            [sys.executable, "-m", "services.devstack.moto_server", "--port", str(moto_port)],
            log=moto_log,
        )
        stack.callback(stop, moto)
        wait_for_port("127.0.0.1", moto_port, timeout=60, process=moto)
        bench = Bench(work, csv_path, arguments.rows, f"http://127.0.0.1:{moto_port}")
        bench.warm_up()
        jvm_log = stack.enter_context((work / "dynamodb-local.log").open("ab"))
        sides = ["in-memory", "om-dev", *(["disk"] if arguments.with_disk else [])]
        om_dev_data = work / "om-dev" / "dynamodb"
        for round_ in range(1, arguments.repeat + 1):
            for side in sides if round_ % 2 else reversed(sides):
                if side == "in-memory":
                    engine = in_memory(jvm_log)
                elif side == "om-dev":
                    engine = as_om_dev(om_dev_data, jvm_log, fresh=True)
                else:
                    engine = on_disk(work / "disk" / "dynamodb", jvm_log)
                with engine as endpoints:
                    run = bench.load(side, round_, endpoints)
                    where = endpoints.database.parent if endpoints.database else "memory"
                runs.append(run)
                print(
                    f"  round {round_}  {side:10s} {run.rows_per_s:8,.0f} rows/s "
                    f"(job {run.job_rows_per_s:,.0f})  wall {run.wall_s:6.1f} s"
                    f"  database {run.database_mib:6.1f} MiB in {where}",
                    flush=True,
                )
        restart = time_restart(om_dev_data, jvm_log)

    def mean(side: str) -> float:
        chosen = [run.rows_per_s for run in runs if run.side == side]
        return sum(chosen) / len(chosen)

    share = mean("om-dev") / mean("in-memory")
    print(f"\nom dev's engine: {share:.0%} of in-memory DynamoDB Local's rows/s", flush=True)
    if arguments.with_disk:
        print(f"on disk directly: {mean('disk') / mean('in-memory'):.0%} of in-memory")
    print(
        f"restart with {restart.database_mib:.0f} MiB: stop and save "
        f"{restart.stop_and_save_s:.1f} s, start on that data {restart.start_with_data_s:.1f} s"
    )
    summary = {
        "rows": arguments.rows,
        "machine": f"{os.cpu_count()} cpu, {platform.platform()}",
        "runs": [asdict(run) | {"rows_per_s": round(run.rows_per_s)} for run in runs],
        "om_dev_share_of_in_memory": round(share, 3),
        "restart": asdict(restart),
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
