"""The fault run at size: a mixed workload over HTTP while 5 % of DynamoDB requests meet a fault.

`om api` (as the container runs it) and `om load-job` talk to DynamoDB Local through the
fault-injecting proxy of the test suite (`tests/support/fault_proxy.py`): throttling,
transaction conflicts and cancellations, 500/503, writes whose response is lost or replaced,
stalls past the read timeout. Makers, takers, quoters and a batch load share a request budget
(`tests/support/fault_run.py`); afterwards every answer is checked against the table. Printed:
the answers by status, the faults injected by kind, the number of wrong answers, lost or doubled
fills and conservation breaks found (the figures of issue 9's "done when"), and throughput.
Figures only; `bench/README.md` says what they mean.

    uv run python -m bench.faults [--requests 10000] [--rate 0.05] [--makers 4] [--takers 8]
"""

from __future__ import annotations

import argparse
import contextlib
import subprocess
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from bench.harness import (
    load_average,
    local_stack,
    machine,
    om_api,
    om_environment,
    om_executable,
    print_machine,
    print_summary,
    print_table,
    progress,
    run_benchmark,
    utc_stamp,
)
from shared.access import Scope
from shared.errors import StoreUnavailable
from shared.models import LoadStatus
from shared.repository.api_keys import ApiKeyRepository
from shared.repository.loads import LoadRepository
from tests.support.fault_proxy import FaultPlan, FaultProxy
from tests.support.fault_run import (
    LOADER_ACCOUNT,
    MAKER_ACCOUNTS,
    TAKER_ACCOUNT,
    Workload,
    batch_load,
    check,
    run_workload,
    table_state,
)

TABLE_NAME = "om-bench-faults"
BUCKET_NAME = "om-bench-faults"
PACKAGES = ("fastapi", "uvicorn", "boto3", "botocore", "httpx")
STALL_SECONDS = 1.0
API_SETTINGS = {"read_timeout_seconds": 0.4, "request_deadline_seconds": 2.0}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.faults", description=(__doc__ or "").split("\n", 1)[0]
    )
    parser.add_argument("--requests", type=int, default=10_000, help="HTTP requests in all")
    parser.add_argument("--rate", type=float, default=0.05, help="share of DynamoDB requests hit")
    parser.add_argument("--makers", type=int, default=4)
    parser.add_argument("--takers", type=int, default=8)
    parser.add_argument("--loaded-rows", type=int, default=2000, help="rows of the batch load")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    if args.requests < 100 or not 0 < args.rate < 1 or args.makers < 1 or args.takers < 1:
        parser.error("--requests ≥ 100, 0 < --rate < 1, at least one maker and one taker")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the workload under faults, check it, print the figures; last line JSON."""
    args = parse_args(argv)
    started_at = datetime.now(UTC)
    load_at_start = load_average(consequence="the run is slower, the checks are not affected")
    with contextlib.ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="om-bench-faults-")))
        progress("starting DynamoDB Local, moto (S3), the fault proxy and `om api` …")
        local = stack.enter_context(local_stack(work, table=TABLE_NAME, bucket=BUCKET_NAME))
        plan = FaultPlan(rate=args.rate, stall_seconds=STALL_SECONDS, seed=args.seed, enabled=False)
        proxy = stack.enter_context(FaultProxy(local.dynamodb_url, plan))
        clients = local.clients
        api_keys = ApiKeyRepository(clients.dynamodb, TABLE_NAME)
        scopes = {
            **{account: (Scope.READ, Scope.ORDERS) for account in MAKER_ACCOUNTS},
            TAKER_ACCOUNT: (Scope.READ, Scope.TRADE),
            LOADER_ACCOUNT: (Scope.READ, Scope.LOAD),
        }
        keys = {
            account: api_keys.create(account, granted).secret for account, granted in scopes.items()
        }
        faulty = local.om_settings(TABLE_NAME, BUCKET_NAME) | {"dynamodb_endpoint_url": proxy.url}
        base_url = stack.enter_context(om_api(faulty | API_SETTINGS, work / "api.log"))
        loader_env = om_environment(**faulty, download_dir=work, load_workers=4)
        loader_runs = 0

        def run_loader(object_key: str) -> bool:
            nonlocal loader_runs
            loader_runs += 1
            command = [om_executable(), "load-job", "--bucket", BUCKET_NAME, "--key", object_key]
            with (work / "loader.log").open("ab") as log:
                subprocess.run(command, env=loader_env, stdout=log, stderr=log, check=False)
            load_id = object_key.rsplit("/", 1)[-1].removesuffix(".csv")
            try:
                status = LoadRepository(clients.dynamodb, TABLE_NAME).get(load_id).status
            except StoreUnavailable:
                return False
            return status is LoadStatus.SUCCEEDED

        progress(
            f"running {args.requests} requests with {args.rate:.0%} of DynamoDB requests faulty …"
        )
        proxy.plan.enabled = True
        began = time.perf_counter()
        seen = run_workload(
            base_url,
            keys,
            Workload(
                requests=args.requests, makers=args.makers, takers=args.takers, seed=args.seed
            ),
            extra=batch_load(base_url, keys[LOADER_ACCOUNT], args.loaded_rows, run_loader),
        )
        elapsed = time.perf_counter() - began
        proxy.plan.enabled = False
        time.sleep(STALL_SECONDS + 0.5)  # stalled requests land before the table is read
        progress("checking every answer against the table …")
        problems, figures = check(seen, table_state(clients.dynamodb, TABLE_NAME))
        injected = dict(proxy.injected)
        calls = dict(proxy.requests)
    print()
    print_table(("figure", "value"), [(name, value) for name, value in figures.items()])
    print()
    print_table(
        ("fault injected", "count"), [(kind, count) for kind, count in sorted(injected.items())]
    )
    print(
        f"\n  {sum(injected.values())} faults in {sum(calls.values())} DynamoDB requests "
        f"({sum(injected.values()) / max(1, sum(calls.values())):.1%}); "
        f"{figures['answers']} answers in {elapsed:.1f} s ({figures['answers'] / elapsed:.0f}/s); "
        f"loader runs: {loader_runs}"
    )
    print(f"  problems found: {len(problems)}")
    for problem in problems[:20]:
        print(f"    {problem}")
    print()
    about = machine(PACKAGES)
    about["load_average_1m_at_start"] = load_at_start
    print_machine(about)
    print_summary(
        {
            "benchmark": "bench/faults.py",
            "date": utc_stamp(started_at),
            "requests": args.requests,
            "rate": args.rate,
            "seconds": round(elapsed, 1),
            "figures": figures,
            "faults_injected": injected,
            "dynamodb_requests": calls,
            "loader_runs": loader_runs,
            "problems": len(problems),
            "first_problems": problems[:20],
            "machine": about,
            "run_id": uuid.uuid4().hex[:8],
        }
    )
    return 0


if __name__ == "__main__":
    run_benchmark(main, stopped="DynamoDB Local, moto, the proxy and the API were stopped")
