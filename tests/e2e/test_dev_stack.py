"""`om dev` driven over HTTP as a user would: start it, use the API, stop it, start it again.

DynamoDB Local cases skip only where `java` is missing; everything else (a failed fetch, a JVM
that does not start) fails. The moto cases and the refusals run everywhere.
"""

from __future__ import annotations

import signal
import socket
import stat
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from services.devstack.dynamodb_local import SHARED_DB_FILE
from services.devstack.working_copy import ram_folder
from tests.e2e.conftest import (
    STOP_TIMEOUT_SECONDS,
    DevStack,
    StartDev,
    accepts_connections,
    free_ports,
    is_running,
    live_children,
    om_env,
    run_om_dev,
)
from tests.support.java import require_java

pytestmark = pytest.mark.e2e


@pytest.fixture
def java() -> None:
    """Skips without Java on a developer's machine; fails under CI (see `require_java`)."""
    require_java()


needs_java = pytest.mark.usefixtures("java")

JPM_BUY = {"symbol": "JPM", "side": 0, "amount": 20, "price": 20}


def assert_every_port_closed(stack: DevStack, grace_seconds: float = 5.0) -> None:
    """After om dev has exited, neither the API nor an emulator may still be listening.

    A killed emulator's listening sockets can outlive its process by a moment while the kernel
    tears them down (seen with no owner in `ss -ltnp`), hence a short grace period.
    """
    deadline = time.monotonic() + grace_seconds
    while True:
        still_open = [port for port in stack.ports if accepts_connections(port)]
        if not still_open or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert still_open == [], f"ports still accepting connections: {still_open}"


def create_after_503(api: httpx.Client, order_id: int, attempts: int = 10) -> int:
    """Retry a create that was answered 503, honouring Retry-After; the final status."""
    for _ in range(attempts):
        response = api.post(f"/api/orders/{order_id}", json=JPM_BUY)
        if response.status_code != 503:
            return response.status_code
        time.sleep(float(response.headers.get("Retry-After", "1")))
    return 503


def stall_a_dynamodb_request(port: int) -> socket.socket:
    """Send a DynamoDB request's headers but hold back its body, leaving it unfinished."""
    head = (
        "POST / HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{port}\r\n"
        "X-Amz-Target: DynamoDB_20120810.ListTables\r\n"
        "Content-Type: application/x-amz-json-1.0\r\n"
        "Authorization: AWS4-HMAC-SHA256 Credential=omlocal/20240101/us-east-1/dynamodb/"
        "aws4_request, SignedHeaders=host, Signature=0\r\n"
        "Content-Length: 2\r\n\r\n"
    )
    stalled = socket.create_connection(("127.0.0.1", port), timeout=10)
    stalled.sendall(head.encode())
    return stalled


@needs_java
def test_dev_serves_the_api_and_stops_every_child_on_sigterm(start_dev: StartDev) -> None:
    stack = start_dev("--engine", "dynamodb-local")
    children = live_children(stack.process.pid)
    with stack.client() as api:
        created = api.post("/api/orders/1", json=JPM_BUY)
        assert created.status_code == 201, created.text
        assert created.json() == {"id": 1, **JPM_BUY}
        read = api.get("/api/orders/1")
        assert read.status_code == 200
        assert read.json() == {"id": 1, **JPM_BUY}
        swagger = api.get("/api/swagger")
        assert swagger.status_code == 200
        assert "swagger-ui" in swagger.text
        openapi = api.get("/api/openapi.json")
        assert openapi.status_code == 200
        assert any(path.startswith("/api/orders/") for path in openapi.json()["paths"])

    banner = stack.stdout()
    assert f"http://127.0.0.1:{stack.api_port}/api/swagger" in banner
    assert f"http://127.0.0.1:{stack.dynamodb_port}" in banner
    assert f"http://127.0.0.1:{stack.s3_port}" in banner
    assert "AWS_ACCESS_KEY_ID=omlocal" in banner
    assert "AWS_SECRET_ACCESS_KEY=omlocalsecret" in banner
    assert "notice:" not in stack.stderr()

    assert stack.stop(signal.SIGTERM) == 0
    assert [pid for pid in children if is_running(pid)] == []
    assert_every_port_closed(stack)
    terminal = stack.stdout() + stack.stderr()
    assert "Traceback" not in terminal
    # The emulators write to log files next to the data folder, not to the terminal.
    logs = stack.data_dir.parent / "logs"
    assert "Initializing DynamoDB Local" in (logs / "dynamodb-local.log").read_text()
    assert "Initializing DynamoDB Local" not in terminal
    assert "moto server: listening" in (logs / "moto-server.log").read_text()


@needs_java
def test_orders_survive_a_restart_and_fresh_starts_empty(start_dev: StartDev) -> None:
    engine = ("--engine", "dynamodb-local")
    first = start_dev(*engine)
    with first.client() as api:
        assert api.post("/api/orders/7", json=JPM_BUY).status_code == 201
    assert first.stop() == 0

    second = start_dev(*engine)
    with second.client() as api:
        kept = api.get("/api/orders/7")
        assert kept.status_code == 200, kept.text
        assert kept.json() == {"id": 7, **JPM_BUY}
    assert second.stop() == 0

    fresh = start_dev(*engine, "--fresh")
    with fresh.client() as api:
        assert api.get("/api/orders/7").status_code == 404
    assert fresh.stop() == 0


@needs_java
def test_orders_survive_om_dev_being_killed_and_a_clean_stop_saves_them(
    start_dev: StartDev,
) -> None:
    engine = ("--engine", "dynamodb-local")
    killed = start_dev(*engine)
    in_ram = "in RAM" in killed.stdout()
    children = live_children(killed.process.pid)
    with killed.client() as api:
        assert api.post("/api/orders/8", json=JPM_BUY).status_code == 201
    killed.process.kill()  # no chance to save anything
    killed.process.wait()
    deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
    while any(map(is_running, children)) and time.monotonic() < deadline:
        time.sleep(0.1)

    restarted = start_dev(*engine)
    with restarted.client() as api:
        kept = api.get("/api/orders/8")
        assert kept.status_code == 200, kept.text
        assert kept.json() == {"id": 8, **JPM_BUY}
    if in_ram:
        assert "recovered the data" in restarted.stderr()
    assert restarted.stop() == 0
    # Stopped cleanly: the data folder holds the database, and no RAM is left in use.
    assert (restarted.data_dir / SHARED_DB_FILE).is_file()
    assert not ram_folder(restarted.data_dir).exists()


def test_moto_engine_serializes_requests_and_keeps_30_concurrent_creates(
    start_dev: StartDev,
) -> None:
    stack = start_dev("--engine", "moto")
    assert "notice: DynamoDB runs on moto (--engine moto)" in stack.stderr()
    assert "memory only" in stack.stderr()

    ids = range(1, 31)
    with stack.client() as api, ThreadPoolExecutor(max_workers=30) as pool:
        created = list(
            pool.map(lambda order_id: api.post(f"/api/orders/{order_id}", json=JPM_BUY), ids)
        )
        # Queued behind moto's lock, a request may outlast the API's store timeout: that is a
        # 503 to retry, never a lost or half-made write.
        statuses = [response.status_code for response in created]
        assert set(statuses) <= {201, 503}, statuses
        for order_id, status in zip(ids, statuses, strict=True):
            if status == 503:
                assert create_after_503(api, order_id) in (201, 409)  # 409: it was written
        found = [api.get(f"/api/orders/{order_id}") for order_id in ids]
    assert [response.json() for response in found] == [{"id": i, **JPM_BUY} for i in ids]

    # One at a time, proved directly: while a DynamoDB request is unfinished (its body held
    # back), a health check (a table read through the API) must wait for it.
    outcome: dict[str, int] = {}
    finished = threading.Event()

    def health_check() -> None:
        outcome["status"] = httpx.get(f"{stack.base_url}/api/health", timeout=10).status_code
        finished.set()

    with stall_a_dynamodb_request(stack.dynamodb_port) as stalled:
        time.sleep(1.0)  # let moto take the request (and the lock) before the health check
        threading.Thread(target=health_check, daemon=True).start()
        assert not finished.wait(1.0), "a second request ran while the first was unfinished"
        stalled.sendall(b"{}")
        assert stalled.recv(64).startswith(b"HTTP/1.1 200")
    assert finished.wait(5.0), "the waiting request never ran"
    assert outcome["status"] == 200

    # Ctrl-C in a terminal is SIGINT: it must stop as cleanly as SIGTERM.
    assert stack.stop(signal.SIGINT) == 0
    assert_every_port_closed(stack)


def test_dev_registers_the_picked_api_key_and_keeps_it_across_restarts(
    start_dev: StartDev,
) -> None:
    picked = "my-scripts-know-this-dev-key-in-advance!"
    first = start_dev("--engine", "moto", env=om_env(OM_DEV_API_KEY=picked))
    assert picked in first.stdout()  # the banner shows it
    assert first.api_key_path.read_text() == picked + "\n"
    assert stat.S_IMODE(first.api_key_path.stat().st_mode) == 0o600
    anonymous = httpx.post(f"{first.base_url}/api/orders/5", json=JPM_BUY, timeout=10)
    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"].startswith("Bearer")
    with first.client() as api:
        assert api.post("/api/orders/5", json=JPM_BUY).status_code == 201
    assert first.stop() == 0

    # Without OM_DEV_API_KEY the key in the file is registered again (moto kept no table).
    second = start_dev("--engine", "moto")
    assert second.api_key() == picked
    with second.client() as api:
        assert api.get("/api/orderbook/JPM", params={"side": 0}).status_code == 200
    assert second.stop() == 0


def test_a_key_no_key_can_be_exits_2_before_anything_starts(tmp_path: Path) -> None:
    api_port, dynamodb_port, s3_port = free_ports(3)
    result = run_om_dev(
        *("--engine", "moto", "--api-key", "too short"),
        *("--port", str(api_port), "--dynamodb-port", str(dynamodb_port)),
        *("--s3-port", str(s3_port), "--data-dir", str(tmp_path / "dynamodb")),
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: --api-key (OM_DEV_API_KEY): must be 32-128 printable ASCII characters without"
        " spaces"
    ]
    assert not any(accepts_connections(port) for port in (api_port, dynamodb_port, s3_port))


def test_auto_engine_without_java_falls_back_to_moto_with_a_notice(
    start_dev: StartDev, env_without_java: dict[str, str]
) -> None:
    stack = start_dev(env=env_without_java)
    notice = stack.stderr()
    assert "notice: DynamoDB runs on moto (Java was not found)" in notice
    assert "memory only" in notice
    assert "one request at a time" in notice
    with stack.client() as api:
        assert api.post("/api/orders/3", json=JPM_BUY).status_code == 201
        assert api.get("/api/orders/3").json() == {"id": 3, **JPM_BUY}
    assert stack.stop() == 0
    assert_every_port_closed(stack)


def test_dynamodb_local_engine_without_java_exits_2_with_a_reason(
    tmp_path: Path, env_without_java: dict[str, str]
) -> None:
    api_port, dynamodb_port, s3_port = free_ports(3)
    result = run_om_dev(
        "--engine",
        "dynamodb-local",
        *("--port", str(api_port), "--dynamodb-port", str(dynamodb_port)),
        *("--s3-port", str(s3_port), "--data-dir", str(tmp_path / "dynamodb")),
        env=env_without_java,
    )
    assert result.returncode == 2
    assert "Java" in result.stderr
    assert "--engine moto" in result.stderr
    assert "Traceback" not in result.stderr
    assert not any(accepts_connections(port) for port in (api_port, dynamodb_port, s3_port))


@pytest.mark.parametrize("option", ["--port", "--dynamodb-port", "--s3-port"])
def test_a_port_in_use_is_a_one_line_error(tmp_path: Path, option: str) -> None:
    ports = dict(zip(["--port", "--dynamodb-port", "--s3-port"], free_ports(3), strict=True))
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", ports[option]))
        squatter.listen()
        arguments = [part for item in ports.items() for part in (item[0], str(item[1]))]
        result = run_om_dev(
            "--engine", "moto", *arguments, "--data-dir", str(tmp_path / "dynamodb")
        )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: {option} {ports[option]}:")
    assert "in use" in lines[0]


@pytest.mark.parametrize(
    ("arguments", "complaint"),
    [
        (["--engine", "dynamo"], "--engine"),
        (["--port", "0"], "--port"),
        (["--port", "9100", "--s3-port", "9100"], "must all differ"),
    ],
)
def test_bad_options_exit_2_naming_the_problem(
    tmp_path: Path, arguments: list[str], complaint: str
) -> None:
    result = run_om_dev(*arguments, "--data-dir", str(tmp_path / "dynamodb"))
    assert result.returncode == 2
    assert complaint in result.stderr
    assert "Traceback" not in result.stderr


def test_fresh_refuses_to_empty_a_folder_it_did_not_write(tmp_path: Path) -> None:
    data_dir = tmp_path / "precious"
    data_dir.mkdir()
    (data_dir / "notes.txt").write_text("keep me")
    api_port, dynamodb_port, s3_port = free_ports(3)
    result = run_om_dev(
        "--engine",
        "moto",
        "--fresh",
        *("--port", str(api_port), "--dynamodb-port", str(dynamodb_port)),
        *("--s3-port", str(s3_port), "--data-dir", str(data_dir)),
    )
    assert result.returncode == 2
    assert "refusing" in result.stderr
    assert (data_dir / "notes.txt").read_text() == "keep me"


@pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the parent-death signal is Linux-only"
)
def test_a_running_om_dev_owns_its_data_folder_and_its_children_die_with_it(
    start_dev: StartDev,
) -> None:
    running = start_dev("--engine", "moto")
    children = live_children(running.process.pid)
    assert children, "om dev should run the moto server as its child"
    api_port, dynamodb_port, s3_port = free_ports(3)
    second = run_om_dev(
        "--engine",
        "moto",
        *("--port", str(api_port), "--dynamodb-port", str(dynamodb_port)),
        *("--s3-port", str(s3_port), "--data-dir", str(running.data_dir)),
    )
    assert second.returncode == 2
    assert "already running" in second.stderr
    assert running.process.poll() is None

    # SIGKILL leaves om dev no chance to clean up: the parent-death signal must stop the
    # emulators, within the time a clean stop gets.
    running.process.kill()
    running.process.wait()
    deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
    while any(map(is_running, children)) and time.monotonic() < deadline:
        time.sleep(0.1)
    survivors = [pid for pid in children if is_running(pid)]
    assert survivors == [], f"children still running after om dev was killed: {survivors}"
    assert_every_port_closed(running)
