"""Batch loading through `om dev` as a user does it: the API, a presigned PUT, `om upload`."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from services.devstack.environment import ACCESS_KEY_ID, SECRET_ACCESS_KEY
from services.devstack.options import DEFAULT_DATA_DIR
from tests.e2e.conftest import OM, DevStack, StartDev, live_children_running, om_env

pytestmark = pytest.mark.e2e
SAMPLE = Path(__file__).parents[2] / "resources" / "sample-orders.csv"


@pytest.fixture
def stack(start_dev: StartDev, tmp_path: Path) -> Iterator[DevStack]:
    # The default layout of a project folder (tmp_path, where om dev runs): .om/dev/api-key.
    yield start_dev(data_dir=tmp_path / DEFAULT_DATA_DIR)


def om_upload(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `om upload` to completion from `cwd`, without the caller's OM_* settings."""
    return subprocess.run(
        [OM, "upload", *args],
        env=env if env is not None else om_env(),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def wait_for_end(api: httpx.Client, load_id: str, timeout: float = 60) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = api.get(f"/api/orders/batch-load/{load_id}").json()
        if status["status"] in ("SUCCEEDED", "FAILED"):
            return dict(status)
        time.sleep(0.2)
    pytest.fail(f"load {load_id} did not finish within {timeout:.0f} s")


def test_upload_to_the_presigned_url_loads_orders_that_are_quotable(stack: DevStack) -> None:
    with stack.client() as api:
        started = api.post("/api/orders/batch-load").json()
        assert set(started) >= {
            "id",
            "preSignedUrl",
            "objectKey",
            "creationTimestampUtc",
            "expirationTimestampUtc",
        }
        pending = api.get(f"/api/orders/batch-load/{started['id']}").json()
        assert pending["status"] == "PENDING"
        # What a user's `curl -T sample-orders.csv <url>` sends: a bare PUT of the bytes.
        put = httpx.put(started["preSignedUrl"], content=SAMPLE.read_bytes())
        assert put.status_code == 200
        done = wait_for_end(api, started["id"])
        assert done["status"] == "SUCCEEDED"
        assert (done["rowsRead"], done["rowsLoaded"], done["rowsRejected"]) == (23, 23, 0)
        assert api.get("/api/orders/10").json()["symbol"] == "BRK.A"
        quote = api.post("/api/price", json={"symbol": "JPM", "side": 0, "amount": 22}).json()
        assert quote["price"] == 442
        # The README's `curl -T … -H 'If-None-Match: *'`: the used URL cannot replace the file.
        again = httpx.put(started["preSignedUrl"], content=b"x", headers={"If-None-Match": "*"})
        assert again.status_code == 412


def test_running_om_load_job_again_after_trades_changes_nothing(stack: DevStack) -> None:
    """A duplicate S3 event or a retried Batch job: the same command over the same upload."""
    with stack.client() as api:
        started = api.post("/api/orders/batch-load").json()
        assert httpx.put(started["preSignedUrl"], content=SAMPLE.read_bytes()).status_code == 200
        loaded = wait_for_end(api, started["id"])
        assert loaded["status"] == "SUCCEEDED"
        trade = api.post("/api/trade", json={"symbol": "JPM", "side": 0, "amount": 22})
        assert trade.status_code == 200, trade.text

        def orders() -> dict[int, tuple[int, object]]:
            answers = {i: api.get(f"/api/orders/{i}") for i in range(1, 24)}
            return {i: (r.status_code, r.json()) for i, r in answers.items()}

        after_trade = orders()
        assert any(status == 404 for status, _ in after_trade.values())  # used up by the trade
        books = api.get("/api/orderbook/JPM", params={"side": 0}).json()

        env = om_env(
            OM_DYNAMODB_ENDPOINT_URL=f"http://127.0.0.1:{stack.dynamodb_port}",
            OM_S3_ENDPOINT_URL=f"http://127.0.0.1:{stack.s3_port}",
            OM_AWS_ACCESS_KEY_ID=ACCESS_KEY_ID,
            OM_AWS_SECRET_ACCESS_KEY=SECRET_ACCESS_KEY,
        )
        bucket = env.get("OM_BUCKET_NAME", "order-management-uploads")
        rerun = subprocess.run(
            [OM, "load-job", "--bucket", bucket, "--key", started["objectKey"]],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert rerun.returncode == 0, rerun.stderr
        assert orders() == after_trade
        assert api.get("/api/orderbook/JPM", params={"side": 0}).json() == books
        assert api.get(f"/api/orders/batch-load/{started['id']}").json() == loaded


def test_a_non_csv_upload_ends_failed_with_a_reason(stack: DevStack) -> None:
    with stack.client() as api:
        started = api.post("/api/orders/batch-load").json()
        httpx.put(started["preSignedUrl"], content=b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff")
        done = wait_for_end(api, started["id"])
        assert done["status"] == "FAILED"
        assert "not UTF-8" in str(done["reason"])


@pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="finds the loader processes in Linux's /proc"
)
def test_a_loader_killed_on_every_attempt_ends_its_load_failed_with_the_reason(
    stack: DevStack,
) -> None:
    # What the OOM killer does to a loader that needs too much memory, on every retry.
    killed: set[int] = set()
    with stack.client() as api:
        started = api.post("/api/orders/batch-load").json()
        assert httpx.put(started["preSignedUrl"], content=SAMPLE.read_bytes()).status_code == 200
        deadline = time.monotonic() + 60
        while (status := api.get(f"/api/orders/batch-load/{started['id']}").json())[
            "status"
        ] not in ("SUCCEEDED", "FAILED"):
            assert time.monotonic() < deadline, f"the load never ended: {status}"
            for loader in live_children_running(stack.process.pid, "load-job"):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(loader, signal.SIGKILL)
                    killed.add(loader)
            time.sleep(0.02)
    assert status["status"] == "FAILED"
    assert status["reason"] == "the load job failed: killed by SIGKILL after 3 attempts"
    assert len(killed) == 3
    assert status["finishedAt"] is not None
    assert stack.process.poll() is None  # om dev itself carries on


def test_om_upload_loads_the_sample_file_and_summarises(stack: DevStack, tmp_path: Path) -> None:
    # From the folder om dev runs in, with no OM_API_KEY: the key is read from .om/dev/api-key.
    result = om_upload(str(SAMPLE), "--api", stack.base_url, "--timeout", "60", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "load SUCCEEDED: 23 rows read, 23 loaded, 0 rejected" in result.stdout

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    with_key = om_env(OM_API_KEY=stack.api_key())
    bad = tmp_path / "bad.csv"
    bad.write_text("orderId,symbol,side,amount,price\n1,JPM,Buy,0,20\n2,JPM,Hold,1,20\n")
    rejected = om_upload(
        str(bad), "--api", stack.base_url, "--timeout", "60", cwd=elsewhere, env=with_key
    )
    assert rejected.returncode == 0, rejected.stderr
    assert "2 rejected" in rejected.stdout
    assert "line 2: amount" in rejected.stdout
    assert "line 3: side" in rejected.stdout
    assert "full report of rejected rows: s3://" in rejected.stdout

    not_csv = tmp_path / "notes.txt"
    not_csv.write_text("hello\n")
    failed = om_upload(
        str(not_csv), "--api", stack.base_url, "--timeout", "60", cwd=elsewhere, env=with_key
    )
    assert failed.returncode == 1
    assert "load FAILED" in failed.stdout


def test_om_upload_with_a_revoked_or_unscoped_key_is_refused_with_the_reason(
    stack: DevStack, tmp_path: Path
) -> None:
    with stack.client() as api:
        created = api.post("/api/keys", json={"account": "e2e", "scopes": ["load", "read"]})
        assert created.status_code == 201, created.text
        revoked = created.json()
        assert api.delete(f"/api/keys/{revoked['keyId']}").status_code == 200
        read_only = api.post("/api/keys", json={"account": "e2e", "scopes": ["read"]}).json()

    refused = om_upload(
        str(SAMPLE), "--api", stack.base_url, cwd=tmp_path, env=om_env(OM_API_KEY=revoked["key"])
    )
    assert refused.returncode == 1
    assert "the API key from OM_API_KEY was refused (unknown or revoked)" in refused.stderr
    assert revoked["key"] not in refused.stderr + refused.stdout
    assert "Traceback" not in refused.stderr

    unscoped = om_upload(
        str(SAMPLE), "--api", stack.base_url, cwd=tmp_path, env=om_env(OM_API_KEY=read_only["key"])
    )
    assert unscoped.returncode == 1
    assert "lacks the `load` scope" in unscoped.stderr
    assert "Traceback" not in unscoped.stderr


def test_om_upload_reports_a_missing_file_a_missing_key_and_an_unreachable_api(
    tmp_path: Path,
) -> None:
    missing = om_upload(str(tmp_path / "nope.csv"), cwd=tmp_path)
    assert missing.returncode == 2
    assert "not a readable file" in missing.stderr
    no_key = om_upload(str(SAMPLE), "--api", "http://127.0.0.1:9", cwd=tmp_path)
    assert no_key.returncode == 2
    assert "no API key: set OM_API_KEY, or start `om dev`" in no_key.stderr
    assert "Traceback" not in no_key.stderr
    unreachable = om_upload(
        str(SAMPLE),
        "--api",
        "http://127.0.0.1:9",
        cwd=tmp_path,
        env=om_env(OM_API_KEY="om_" + "x" * 40),
    )
    assert unreachable.returncode == 1
    assert "cannot reach the API" in unreachable.stderr
    assert "Traceback" not in unreachable.stderr
