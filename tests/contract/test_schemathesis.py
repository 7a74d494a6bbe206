"""The OpenAPI document is the truth about the API: schemathesis finds nothing in the running app.

`st run` (schemathesis' own runner, as a user runs it) is pointed at the API served over HTTP
with a key of every scope, with every check enabled (`--checks all`), positive and negative data,
and all four phases: the document's examples, coverage of each keyword's boundaries, fuzzing,
and stateful scenarios that follow the document's links (create an order → read, amend, delete,
quote and trade it → read the trade; start a batch load → its status; create a key → revoke it).

`schemathesis.toml` beside this file holds the settings that differ from schemathesis' defaults
and why; `hooks.py` the adjustments to generated cases, each with its reason. No check is
disabled. The run is seeded so a failure in CI replays locally; `OM_CONTRACT_SEED=<n>` picks
another seed and `OM_CONTRACT_SEED=random` a fresh one each run.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.contract.conftest import RunningApi
from tests.contract.hooks import CALLS_LOG, OWN_KEY_ID

HERE = Path(__file__).parent
ROOT = HERE.parent.parent
CONFIG = HERE / "schemathesis.toml"
DEFAULT_SEED = 20_241_016
# Test cases per operation and phase: 17 operations × 4 phases give about 3,000 in all.
MAX_EXAMPLES = 150
MIN_CASES = 2_000
PHASES = ("examples", "coverage", "fuzzing", "stateful")
# A bound on a run that hangs, never a measurement: about 40 s on an idle 2-core machine.
RUN_SECONDS = 840
# One engine: the contract is about HTTP, and moto answers faster than DynamoDB Local.
pytestmark = pytest.mark.parametrize("store", ["moto"], indirect=True)


def seed() -> int:
    """The run's seed: fixed unless `OM_CONTRACT_SEED` names another (or `random`)."""
    chosen = os.environ.get("OM_CONTRACT_SEED", "")
    if chosen == "random":
        return random.SystemRandom().randrange(2**63)
    return int(chosen) if chosen else DEFAULT_SEED


def run_schemathesis(
    api: RunningApi, report: Path, calls: Path, run_seed: int
) -> subprocess.CompletedProcess[str]:
    """`st run` against `api`; its JSON report goes to `report`, its calls to `calls`."""
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--config-file",
        str(CONFIG),
        "--no-color",
        "run",
        f"{api.base_url}/api/openapi.json",
        "--checks",
        "all",
        "--mode",
        "all",
        "--phases",
        ",".join(PHASES),
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        str(run_seed),
        "--header",
        f"Authorization: Bearer {api.key}",
        "--report",
        "json",
        "--report-json-path",
        str(report),
    ]
    environment = {
        **os.environ,
        "SCHEMATHESIS_HOOKS": "tests.contract.hooks",
        OWN_KEY_ID: api.key_id,
        CALLS_LOG: str(calls),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    return subprocess.run(
        command,
        cwd=report.parent,  # schemathesis keeps a cache in its working directory
        env=environment,
        capture_output=True,
        text=True,
        timeout=RUN_SECONDS,
        check=False,
    )


@pytest.mark.timeout(RUN_SECONDS + 60)
def test_schemathesis_finds_no_mismatch_between_the_document_and_the_api(
    running_api: RunningApi, tmp_path: Path
) -> None:
    run_seed = seed()
    report_path = tmp_path / "schemathesis.json"
    calls_path = tmp_path / "calls.tsv"
    run = run_schemathesis(running_api, report_path, calls_path, run_seed)
    output = f"seed {run_seed}\n{run.stdout}\n{run.stderr}"
    report: dict[str, Any] = json.loads(report_path.read_text())
    statuses: dict[str, set[int]] = {}
    for line in calls_path.read_text().splitlines():
        operation, status = line.split("\t")
        statuses.setdefault(operation, set()).add(int(status))
    with running_api.client() as client:
        document = client.get("/api/openapi.json").json()
    operations = {
        f"{method.upper()} {path}" for path, item in document["paths"].items() for method in item
    }

    assert run.returncode == 0, output
    assert report["failures"] == [] and report["errors"] == [], output
    assert report["test_cases"]["generated"] >= MIN_CASES, report["test_cases"]
    assert {name: phase["status"] for name, phase in report["phases"].items()} == {
        name: "success" for name in PHASES
    }
    # Every operation got past validation, auth and 404s to its core at least once.
    assert {
        operation
        for operation in operations
        if not any(200 <= status < 300 for status in statuses.get(operation, ()))
    } == set(), statuses
    # The run kept its key (a revoked one would have turned every case into a 401).
    with running_api.client() as client:
        assert client.get("/api/keys").status_code == 200
