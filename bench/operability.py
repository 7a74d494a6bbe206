"""Operability figures: how fast a hung or dead table is answered, and whether a hot book starves
the other endpoints.

Two runs, each against `om api` started as the container starts it (production timeouts: 0.5 s
per DynamoDB attempt, a 2 s request deadline), with a cached API key:

* `hung`: DynamoDB Local is paused (SIGSTOP). Every endpoint is asked once, timed, while another
  client polls `/api/health/live`; then the table is resumed (SIGCONT) and the time until
  `/api/health` answers 200 again is measured; then the table is killed and every endpoint asked
  again. The contract: 503 + Retry-After within 3 s, liveness 200 throughout, recovery without a
  restart.
* `hot`: 60 clients (a separate process) trade 1-5 lots on one book of 20,000 orders (10-20 lots
  each, so the book lasts the run) while this process times `GET /api/orders/{id}` and
  `GET /api/health/live` one after another. The target: both keep a p99 under 100 ms.

  The load generator runs at nice 10 (`--load-nice`). On AWS the clients' CPU is their own
  machines'; here their 60 threads share two vCPUs with the API and the table, and at equal
  priority the scheduler hands the clients the CPU the server needs to answer them. At nice 10
  they still offer the same closed-loop load (the summary's trades/s shows it), they just stop
  outbidding the server for the CPU. `--load-nice 0` measures the old arrangement.

Figures only; `bench/README.md` reads them against the targets.

    uv run python -m bench.operability [--hot-seconds 30] [--clients 60] [--book 20000]
        [--load-nice 10] [--skip-hung] [--api-cpu N]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench.harness import (
    load_average,
    local_stack,
    machine,
    mean,
    om_api,
    percentile,
    print_machine,
    print_summary,
    print_table,
    progress,
    run_benchmark,
    seed_resting_orders,
    utc_stamp,
)
from shared.access import ALL_SCOPES
from shared.repository import OrderRepository
from shared.repository.api_keys import ApiKeyRepository
from tests.support.endpoints import EVERY_ENDPOINT, ORDER

TABLE_NAME = "om-bench-operability"
BUCKET_NAME = "om-bench-operability"
PACKAGES = ("fastapi", "uvicorn", "boto3", "botocore", "httpx")
HOT_SYMBOL = "HOT"


@contextlib.contextmanager
def stack(work: Path, api_cpus: set[int] | None = None) -> Iterator[tuple[str, str, Any, int]]:
    """The local stack, a key and `om api` (on `api_cpus` if given): (base URL, key, clients,
    JVM pid)."""
    with local_stack(work, table=TABLE_NAME, bucket=BUCKET_NAME) as local:
        key = ApiKeyRepository(local.clients.dynamodb, TABLE_NAME).create("bench", ALL_SCOPES)
        # INFO, as deployed: each request's access-log line (its metrics document) is part of
        # the work the API does, and it gives the time each request spent inside the app.
        settings = {**local.om_settings(TABLE_NAME, BUCKET_NAME), "log_level": "INFO"}
        with om_api(settings, work / "api.log", cpus=api_cpus) as base_url:
            yield base_url, key.secret, local.clients, local.dynamodb_pid


class LivenessPoller:
    """Polls `/api/health/live` in a thread, keeping each answer's status and latency."""

    def __init__(self, base_url: str) -> None:
        self._http = httpx.Client(base_url=base_url, timeout=10)
        self.samples: list[tuple[int, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def __enter__(self) -> LivenessPoller:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self._http.close()

    def _poll(self) -> None:
        while not self._stop.is_set():
            began = time.perf_counter()
            status = self._http.get("/api/health/live").status_code
            self.samples.append((status, (time.perf_counter() - began) * 1000))
            time.sleep(0.02)


def ask_every_endpoint(http: httpx.Client) -> list[dict[str, Any]]:
    """Each endpoint once, timed."""
    answers = []
    for method, path, body in EVERY_ENDPOINT:
        began = time.perf_counter()
        response = http.request(method, path, json=body)
        answers.append(
            {
                "request": f"{method} {path.split('?')[0]}",
                "status": response.status_code,
                "retry_after": response.headers.get("Retry-After"),
                "seconds": round(time.perf_counter() - began, 3),
            }
        )
    return answers


def hung_run(work: Path) -> dict[str, Any]:
    """Pause the table, ask everything; resume, time the recovery; kill, ask everything."""
    with (
        stack(work) as (base_url, key, _, pid),
        httpx.Client(
            base_url=base_url, headers={"Authorization": f"Bearer {key}"}, timeout=30
        ) as http,
    ):
        http.post("/api/orders/1", json=ORDER).raise_for_status()
        with LivenessPoller(base_url) as live:
            os.kill(pid, signal.SIGSTOP)
            try:
                paused = ask_every_endpoint(http)
            finally:
                os.kill(pid, signal.SIGCONT)
            resumed = time.perf_counter()
            while http.get("/api/health").status_code != 200:
                time.sleep(0.05)
            recovery = time.perf_counter() - resumed
            os.kill(pid, signal.SIGKILL)
            time.sleep(0.5)
            killed = ask_every_endpoint(http)
        latencies = [ms for _, ms in live.samples]
        return {
            "paused": paused,
            "recovery_seconds": round(recovery, 3),
            "killed": killed,
            "liveness": {
                "samples": len(live.samples),
                "not_200": sum(1 for status, _ in live.samples if status != 200),
                "p50_ms": round(percentile(latencies, 50), 2),
                "p99_ms": round(percentile(latencies, 99), 2),
                "max_ms": round(max(latencies), 2),
            },
        }


def hot_run(
    work: Path,
    *,
    seconds: float,
    clients: int,
    book: int,
    api_cpus: set[int] | None,
    load_nice: int,
) -> dict[str, Any]:
    """Trade hard on one book from another process; time reads and liveness from this one."""
    with (
        stack(work, api_cpus) as (base_url, key, aws, _),
        httpx.Client(
            base_url=base_url, headers={"Authorization": f"Bearer {key}"}, timeout=30
        ) as http,
    ):
        progress(f"seeding the hot book with {book} orders …")
        # Big enough that the clients do not empty it within a run: on an empty book every
        # trade is a cheap `successful: false`, which is not the load this run is meant to put
        # on the API (the summary's `unfilled` count shows whether it lasted).
        seed_resting_orders(aws.dynamodb, TABLE_NAME, HOT_SYMBOL, book, 1, 3)
        http.post("/api/orders/999999", json=ORDER).raise_for_status()
        command = [
            sys.executable, "-m", "bench.operability", "trade-load", "--url", base_url,
            "--key", key, "--clients", str(clients), "--seconds", str(seconds),
            "--load-nice", str(load_nice),
        ]  # fmt: skip
        progress(f"{clients} clients trading on one book for {seconds:.0f} s …")
        load = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        time.sleep(1.0)  # let the load build up before measuring
        reads: list[float] = []
        lives: list[float] = []
        direct: list[float] = []
        statuses: dict[str, int] = {}
        orders = OrderRepository(aws.dynamodb, TABLE_NAME)
        ends = time.monotonic() + seconds - 2.0
        while time.monotonic() < ends:
            for path, samples in (("/api/orders/999999", reads), ("/api/health/live", lives)):
                began = time.perf_counter()
                status = http.get(path).status_code
                samples.append((time.perf_counter() - began) * 1000)
                statuses[f"{path} {status}"] = statuses.get(f"{path} {status}", 0) + 1
            # The same read made straight to the table from here: how much of the API's figure
            # is the engine's own latency under the trading load.
            began = time.perf_counter()
            orders.get(999999)
            direct.append((time.perf_counter() - began) * 1000)
        out, _ = load.communicate(timeout=seconds + 120)
        trading = json.loads(out.strip().splitlines()[-1])
    served = server_durations(work / "api.log")
    return {
        "get_order_ms": _figures(reads),
        "get_order_in_server_ms": _figures(served["/api/orders/999999"]),
        "liveness_ms": _figures(lives),
        "liveness_in_server_ms": _figures(served["/api/health/live"]),
        "direct_get_item_ms": _figures(direct),
        "statuses": statuses,
        "trading": trading,
    }


def server_durations(log: Path) -> dict[str, list[float]]:
    """Each path's `duration_ms` as the API logged it: the time inside the app, without the
    queueing in the kernel and uvicorn before it and the client's own share."""
    durations: dict[str, list[float]] = {"/api/orders/999999": [], "/api/health/live": []}
    with log.open() as lines:
        for line in lines:
            if not line.startswith("{"):
                continue
            record = json.loads(line)
            if record.get("method") == "GET" and record.get("path") in durations:
                durations[record["path"]].append(float(record["duration_ms"]))
    return durations


def _figures(samples: list[float]) -> dict[str, float]:
    return {
        "count": len(samples),
        "p50": round(percentile(samples, 50), 2),
        "p99": round(percentile(samples, 99), 2),
        "max": round(max(samples), 2),
        "mean": round(mean(samples), 2),
    }


def trade_load(url: str, key: str, clients: int, seconds: float, nice: int) -> None:
    """The load generator (a child process): `clients` threads trading 1-5 lots on one book, at
    scheduling priority `nice`."""
    counts: dict[str, int] = {}
    lock = threading.Lock()
    ends = time.monotonic() + seconds
    os.nice(nice)

    def client(seed: int) -> None:
        rng = random.Random(seed)
        with httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=30
        ) as http:
            while time.monotonic() < ends:
                body = {"symbol": HOT_SYMBOL, "side": 0, "amount": rng.randint(1, 5)}
                response = http.post("/api/trade", json=body)
                outcome = str(response.status_code)
                if response.status_code == 200:
                    outcome = "filled" if response.json()["successful"] else "unfilled"
                with lock:
                    counts[outcome] = counts.get(outcome, 0) + 1

    threads = [threading.Thread(target=client, args=(seed,)) for seed in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(json.dumps({"seconds": seconds, "clients": clients, "nice": nice, "outcomes": counts}))


def main(argv: list[str] | None = None) -> int:
    """Both runs; the last line is a JSON summary."""
    args = parse_args(argv)
    if args.command == "trade-load":
        trade_load(args.url, args.key, args.clients, args.seconds, args.load_nice)
        return 0
    started = datetime.now(UTC)
    load_at_start = load_average(consequence="latency figures are noisier")
    with tempfile.TemporaryDirectory(prefix="om-bench-operability-") as work:
        hung = None
        if not args.skip_hung:
            progress("hung run: pausing, resuming and killing DynamoDB Local under `om api` …")
            hung = hung_run(Path(work) / "hung")
        api_cpus = None
        if args.api_cpu is not None:
            # Everything else (this process, the load generator, DynamoDB Local, moto) on the
            # other CPUs: as deployed, the API's task has CPUs of its own.
            api_cpus = {args.api_cpu}
            os.sched_setaffinity(0, os.sched_getaffinity(0) - api_cpus)
        hot = hot_run(
            Path(work) / "hot",
            seconds=args.hot_seconds,
            clients=args.clients,
            book=args.book,
            api_cpus=api_cpus,
            load_nice=args.load_nice,
        )
    print()
    if hung is not None:
        print_hung(hung)
    print_table(
        ("while 60 clients trade", "count", "p50 ms", "p99 ms", "max ms"),
        [
            (name, figures["count"], figures["p50"], figures["p99"], figures["max"])
            for name, figures in (
                ("GET /api/orders/{id}", hot["get_order_ms"]),
                ("  of which inside the app", hot["get_order_in_server_ms"]),
                ("GET /api/health/live", hot["liveness_ms"]),
                ("  of which inside the app", hot["liveness_in_server_ms"]),
                ("GetItem straight to the table", hot["direct_get_item_ms"]),
            )
        ],
    )
    outcomes = hot["trading"]["outcomes"]
    print(
        f"\n  trades: {outcomes} in {hot['trading']['seconds']:.0f} s "
        f"({sum(outcomes.values()) / hot['trading']['seconds']:.0f} answers/s; "
        f"load generator at nice {hot['trading']['nice']})\n"
    )
    about = machine(PACKAGES)
    about["load_average_1m_at_start"] = load_at_start
    print_machine(about)
    print_summary(
        {
            "benchmark": "bench/operability.py",
            "date": utc_stamp(started),
            "hung": hung,
            "hot": hot,
            "machine": about,
        }
    )
    return 0


def print_hung(hung: dict[str, Any]) -> None:
    """The hung run's table: each endpoint's answer with the table paused, then killed."""
    rows = [
        (answer["request"], answer["status"], answer["retry_after"], f"{answer['seconds']:.3f}",
         killed["status"], f"{killed['seconds']:.3f}")
        for answer, killed in zip(hung["paused"], hung["killed"], strict=True)
    ]  # fmt: skip
    print_table(("request", "paused", "Retry-After", "s", "killed", "s"), rows)
    print(
        f"\n  liveness during the outage: {hung['liveness']}\n"
        f"  back to 200 on /api/health {hung['recovery_seconds']:.3f} s after the table resumed\n"
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options (`trade-load` is the child process of the hot run)."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.operability", description=(__doc__ or "").split("\n", 1)[0]
    )
    parser.add_argument("command", nargs="?", default="run", choices=("run", "trade-load"))
    parser.add_argument("--hot-seconds", type=float, default=30.0)
    parser.add_argument("--clients", type=int, default=60)
    parser.add_argument("--book", type=int, default=20_000)
    parser.add_argument("--skip-hung", action="store_true", help="only the hot-book run")
    parser.add_argument(
        "--api-cpu",
        type=int,
        help="hot run: `om api` alone on this CPU, everything else on the others",
    )
    parser.add_argument(
        "--load-nice",
        type=int,
        default=10,
        help="hot run: the load generator's nice value (default 10; 0: the same priority as "
        "the API and the table)",
    )
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--key", help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, default=20.0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.hot_seconds < 5 or args.clients < 1 or args.book < 100:
        parser.error("--hot-seconds ≥ 5, --clients ≥ 1, --book ≥ 100")
    if not 0 <= args.load_nice <= 19:
        parser.error("--load-nice is 0-19")
    return args


if __name__ == "__main__":
    if sys.argv[1:2] == ["trade-load"]:
        sys.exit(main())
    run_benchmark(main, stopped="DynamoDB Local, moto and the API were stopped")
