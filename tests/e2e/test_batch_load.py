"""Batch loading through `om dev` as a user does it: the API, a presigned PUT, `om upload`."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import OM, DevStack, StartDev, om_env

pytestmark = pytest.mark.e2e
SAMPLE = Path(__file__).parents[2] / "resources" / "sample-orders.csv"


@pytest.fixture
def stack(start_dev: StartDev) -> Iterator[DevStack]:
    yield start_dev()


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


def test_a_non_csv_upload_ends_failed_with_a_reason(stack: DevStack) -> None:
    with stack.client() as api:
        started = api.post("/api/orders/batch-load").json()
        httpx.put(started["preSignedUrl"], content=b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff")
        done = wait_for_end(api, started["id"])
        assert done["status"] == "FAILED"
        assert "not UTF-8" in str(done["reason"])


def test_om_upload_loads_the_sample_file_and_summarises(stack: DevStack, tmp_path: Path) -> None:
    result = subprocess.run(
        [OM, "upload", str(SAMPLE), "--api", stack.base_url, "--timeout", "60"],
        env=om_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "load SUCCEEDED: 23 rows read, 23 loaded, 0 rejected" in result.stdout

    bad = tmp_path / "bad.csv"
    bad.write_text("orderId,symbol,side,amount,price\n1,JPM,Buy,0,20\n2,JPM,Hold,1,20\n")
    rejected = subprocess.run(
        [OM, "upload", str(bad), "--api", stack.base_url, "--timeout", "60"],
        env=om_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert rejected.returncode == 0, rejected.stderr
    assert "2 rejected" in rejected.stdout
    assert "line 2: amount" in rejected.stdout
    assert "line 3: side" in rejected.stdout
    assert "full report of rejected rows: s3://" in rejected.stdout

    not_csv = tmp_path / "notes.txt"
    not_csv.write_text("hello\n")
    failed = subprocess.run(
        [OM, "upload", str(not_csv), "--api", stack.base_url, "--timeout", "60"],
        env=om_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert failed.returncode == 1
    assert "load FAILED" in failed.stdout


def test_om_upload_reports_a_missing_file_and_an_unreachable_api(tmp_path: Path) -> None:
    missing = subprocess.run(
        [OM, "upload", str(tmp_path / "nope.csv")], capture_output=True, text=True, check=False
    )
    assert missing.returncode == 2
    assert "not a readable file" in missing.stderr
    unreachable = subprocess.run(
        [OM, "upload", str(SAMPLE), "--api", "http://127.0.0.1:9"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert unreachable.returncode == 1
    assert "cannot reach the API" in unreachable.stderr
    assert "Traceback" not in unreachable.stderr
