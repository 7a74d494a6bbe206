"""One hot book over HTTP: trades/s with group commit on and off, with one and two API processes.

As a user would measure it: one in-memory DynamoDB Local; `om api` processes started as the
container starts them (`OM_TRADE_GROUPING=true|false`); a separate load process whose 40 client
threads trade 1-5 lots on one book of 3,000 resting orders (10-20 lots each, so the book lasts
the run) for 20 s, spread over the API processes; meanwhile a "bystander" client in the same load
process quotes and trades 1 lot on *another* book, to see whether it is affected. Every
configuration runs on a fresh book in the same run, so the ratios compare like with like.

After each run one consistent Scan checks conservation on the hot book: seeded lots = lots still
resting + lots in the trade records, and the trade records are exactly the trades clients were
told succeeded (no failures, no lost or doubled fills). Then, with no other load, 200 lone trades
one after another measure what grouping costs an uncontended trade.

Figures only; bench/README.md reads them against issue 12's targets.

    uv run python -m bench.hot_book [--seconds 20] [--clients 40] [--orders 3000]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench.harness import (
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
    seed_resting_orders,
    utc_stamp,
)
from shared.access import ALL_SCOPES
from shared.codecs import order_from_item, trade_from_item
from shared.repository import ensure_table, make_clients
from shared.repository.api_keys import ApiKeyRepository
from shared.settings import AwsSettings

TABLE_NAME = "om-bench-hot-book"
PACKAGES = ("fastapi", "uvicorn", "boto3", "botocore", "httpx")
CONFIGURATIONS = ((False, 1), (True, 1), (False, 2), (True, 2))  # (grouping, API processes)
LONE_TRADES = 200


@contextlib.contextmanager
def api_processes(count: int, grouping: bool, endpoint_url: str, work: Path) -> Iterator[list[str]]:
    """`count` `om api` processes over the run's table; their base URLs."""
    settings = {
        "table_name": TABLE_NAME,
        "dynamodb_endpoint_url": endpoint_url,
        "log_level": "WARNING",
        "trade_grouping": str(grouping).lower(),
        # Contention is the point here: give a trade the whole default trade deadline.
        "request_deadline_seconds": 10.0,
        "read_timeout_seconds": 3.0,
    }
    with contextlib.ExitStack() as stack:
        yield [
            stack.enter_context(om_api(settings, work / f"api-{grouping}-{count}-{index}.log"))
            for index in range(count)
        ]


def conservation(client: Any, symbol: str, seeded: int, told: dict[str, Any]) -> dict[str, int]:
    """Seeded lots vs resting + recorded fills on the hot book; records vs what clients saw."""
    resting = recorded = 0
    records: dict[str, list[tuple[int, int]]] = {}
    paginator = client.get_paginator("scan")
    for page in paginator.paginate(TableName=TABLE_NAME, ConsistentRead=True):
        for item in page["Items"]:
            entity = item["entity"]["S"]
            if entity == "ORDER":
                order = order_from_item(item)
                if order.symbol == symbol:
                    resting += order.amount
            elif entity == "TRADE":
                trade = trade_from_item(item)
                if trade.symbol == symbol:
                    recorded += trade.amount
                    records[trade.id] = [(f.order_id, f.amount) for f in trade.fills]
    told_fills = {trade_id: [tuple(f) for f in fills] for trade_id, fills in told.items()}
    return {
        "lots_seeded": seeded,
        "lots_resting": resting,
        "lots_recorded": recorded,
        "lots_unaccounted": seeded - resting - recorded,
        "records_not_told": len(set(records) - set(told_fills)),
        "told_not_recorded": len(set(told_fills) - set(records)),
        "fills_differing": sum(
            1 for trade_id in set(records) & set(told_fills)
            if records[trade_id] != told_fills[trade_id]
        ),
    }  # fmt: skip


def run_configuration(
    grouping: bool, processes: int, args: argparse.Namespace, dynamodb_url: str, key: str,
    client: Any, work: Path, number: int,
) -> dict[str, Any]:  # fmt: skip
    """One measured run on a fresh hot book and a fresh bystander book."""
    hot, quiet = f"HOT{number}", f"QUIET{number}"
    seeded = seed_resting_orders(client, TABLE_NAME, hot, args.orders, number * 1_000_000, number)
    seed_resting_orders(client, TABLE_NAME, quiet, 200, number * 1_000_000 + 900_000, number + 100)
    with api_processes(processes, grouping, dynamodb_url, work) as urls:
        command = [
            sys.executable, "-m", "bench.hot_book", "load", "--key", key,
            "--clients", str(args.clients), "--seconds", str(args.seconds),
            "--hot", hot, "--quiet", quiet, *(arg for url in urls for arg in ("--url", url)),
        ]  # fmt: skip
        finished = subprocess.run(command, capture_output=True, text=True, check=True)
        result: dict[str, Any] = json.loads(finished.stdout.strip().splitlines()[-1])
    result["conservation"] = conservation(client, hot, seeded, result.pop("fills"))
    result["grouping"], result["processes"] = grouping, processes
    return result


def lone_trades(key: str, dynamodb_url: str, client: Any, work: Path) -> dict[str, float]:
    """p50/p99 of trades one after another, nothing else running, grouping on vs off."""
    figures: dict[str, float] = {}
    for grouping in (False, True):
        symbol = f"LONE{int(grouping)}"
        seed_resting_orders(client, TABLE_NAME, symbol, 400, 8_000_000 + grouping * 100_000, 42)
        with (
            api_processes(1, grouping, dynamodb_url, work) as (url,),
            httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}) as http,
        ):
            samples = []
            for index in range(LONE_TRADES + 20):
                began = time.perf_counter()
                body = http.post("/api/trade", json={"symbol": symbol, "side": 0, "amount": 1})
                if index >= 20:  # the first ones warm up the connection and the JIT
                    samples.append((time.perf_counter() - began) * 1000)
                assert body.json()["successful"], body.text
        name = "grouped" if grouping else "ungrouped"
        figures[f"{name}_p50_ms"] = round(percentile(samples, 50), 3)
        figures[f"{name}_p99_ms"] = round(percentile(samples, 99), 3)
    return figures


def load(args: argparse.Namespace) -> int:
    """The load process: hot-book clients and one bystander; prints one JSON line."""
    ends = time.monotonic() + args.seconds
    lock = threading.Lock()
    outcomes: Counter[str] = Counter()
    latencies: list[float] = []
    bystander: dict[str, list[float]] = {"quote": [], "trade": []}
    fills: dict[str, list[list[int]]] = {}

    def trader(index: int) -> None:
        rng = random.Random(index)
        url = args.url[index % len(args.url)]
        with httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {args.key}"}, timeout=60
        ) as http:
            while time.monotonic() < ends:
                body = {"symbol": args.hot, "side": 0, "amount": rng.randint(1, 5)}
                began = time.perf_counter()
                response = http.post("/api/trade", json=body)
                took = (time.perf_counter() - began) * 1000
                with lock:
                    if response.status_code != 200:
                        outcomes[f"HTTP {response.status_code}"] += 1
                        continue
                    answer = response.json()
                    if not answer["successful"]:
                        outcomes["unfilled"] += 1
                        continue
                    outcomes["filled"] += 1
                    latencies.append(took)
                    fills[answer["tradeId"]] = [
                        [fill["orderId"], fill["amount"]] for fill in answer["fills"]
                    ]

    def walker() -> None:
        with httpx.Client(
            base_url=args.url[0], headers={"Authorization": f"Bearer {args.key}"}, timeout=60
        ) as http:
            while time.monotonic() < ends:
                for kind, path in (("quote", "/api/price"), ("trade", "/api/trade")):
                    began = time.perf_counter()
                    http.post(path, json={"symbol": args.quiet, "side": 0, "amount": 1})
                    bystander[kind].append((time.perf_counter() - began) * 1000)
                time.sleep(0.05)

    threads = [threading.Thread(target=trader, args=(i,)) for i in range(args.clients)]
    threads.append(threading.Thread(target=walker))
    began = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - began
    print(
        json.dumps(
            {
                "seconds": round(elapsed, 2),
                "outcomes": dict(outcomes),
                "filled_per_second": round(outcomes["filled"] / elapsed, 1),
                "p50_ms": round(percentile(latencies, 50), 2) if latencies else None,
                "p99_ms": round(percentile(latencies, 99), 2) if latencies else None,
                "bystander_ms": {
                    kind: {
                        "p50": round(percentile(samples, 50), 2),
                        "p99": round(percentile(samples, 99), 2),
                    }
                    for kind, samples in bystander.items()
                    if samples
                },
                "fills": fills,
            }
        )
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    """All four configurations and the lone-trade figures; the last line is a JSON summary."""
    args = parse_args(argv)
    if args.command == "load":
        return load(args)
    started = datetime.now(UTC)
    load_at_start = load_average(consequence="throughput figures are lower, ratios less so")
    results = []
    with contextlib.ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="om-bench-hot-")))
        progress("starting DynamoDB Local …")
        dynamodb = stack.enter_context(dynamodb_local(work / "dynamodb.log"))
        settings = local_settings(
            AwsSettings,
            table_name=TABLE_NAME,
            dynamodb_endpoint_url=dynamodb.endpoint_url,
            read_timeout_seconds=30.0,
        )
        client = make_clients(settings).dynamodb
        ensure_table(client, TABLE_NAME)
        key = ApiKeyRepository(client, TABLE_NAME).create("bench", ALL_SCOPES).secret
        for number, (grouping, processes) in enumerate(CONFIGURATIONS, start=1):
            mode = "grouped" if grouping else "ungrouped"
            progress(f"{mode}, {processes} API process(es), {args.clients} clients …")
            results.append(
                run_configuration(
                    grouping, processes, args, dynamodb.endpoint_url, key, client, work, number
                )
            )
        progress(f"{LONE_TRADES} lone trades, grouping off and on …")
        lone = lone_trades(key, dynamodb.endpoint_url, client, work)
    print()
    print_table(
        ("grouping", "API procs", "filled/s", "p50 ms", "p99 ms", "failures", "unfilled",
         "lots unaccounted", "records≠told", "bystander quote p99", "bystander trade p99"),
        [
            ("on" if r["grouping"] else "off", r["processes"], r["filled_per_second"],
             r["p50_ms"], r["p99_ms"],
             sum(v for k, v in r["outcomes"].items() if k.startswith("HTTP")),
             r["outcomes"].get("unfilled", 0), r["conservation"]["lots_unaccounted"],
             r["conservation"]["records_not_told"] + r["conservation"]["told_not_recorded"]
             + r["conservation"]["fills_differing"],
             r["bystander_ms"].get("quote", {}).get("p99"),
             r["bystander_ms"].get("trade", {}).get("p99"))
            for r in results
        ],
    )  # fmt: skip
    by_config = {(r["grouping"], r["processes"]): r for r in results}
    for processes in (1, 2):
        off, on = by_config[(False, processes)], by_config[(True, processes)]
        ratio = on["filled_per_second"] / max(off["filled_per_second"], 0.1)
        print(f"  {processes} API process(es): grouped / ungrouped filled trades/s = ×{ratio:.2f}")
    print(
        f"  lone trades: ungrouped p50 {lone['ungrouped_p50_ms']} ms, grouped p50 "
        f"{lone['grouped_p50_ms']} ms (p99 {lone['ungrouped_p99_ms']} / "
        f"{lone['grouped_p99_ms']} ms)\n"
    )
    about = machine(PACKAGES)
    about["load_average_1m_at_start"] = load_at_start
    print_machine(about)
    print_summary(
        {
            "benchmark": "bench/hot_book.py",
            "date": utc_stamp(started),
            "seconds": args.seconds,
            "clients": args.clients,
            "orders": args.orders,
            "runs": results,
            "lone_trades": lone,
            "machine": about,
        }
    )
    return 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options (`load` is the load process, started by the runs)."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.hot_book", description=(__doc__ or "").split("\n", 1)[0]
    )
    parser.add_argument("command", nargs="?", default="run", choices=("run", "load"))
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--clients", type=int, default=40)
    parser.add_argument("--orders", type=int, default=3000)
    parser.add_argument("--url", action="append", default=[], help=argparse.SUPPRESS)
    parser.add_argument("--key", help=argparse.SUPPRESS)
    parser.add_argument("--hot", help=argparse.SUPPRESS)
    parser.add_argument("--quiet", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.seconds < 2 or args.clients < 1 or args.orders < 100:
        parser.error("--seconds ≥ 2, --clients ≥ 1, --orders ≥ 100")
    return args


if __name__ == "__main__":
    if sys.argv[1:2] == ["load"]:
        sys.exit(main())
    run_benchmark(main, stopped="DynamoDB Local and the API processes were stopped")
