"""`om dev` driven over HTTP as a user would: start it, use the API, stop it, start it again.

DynamoDB Local cases skip only where `java` is missing; everything else (a failed fetch, a JVM
that does not start) fails. The moto cases and the refusals run everywhere.
"""

from __future__ import annotations

import signal
import socket
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from services.devstack.dynamodb_local import find_java
from tests.e2e.conftest import (
    STOP_TIMEOUT_SECONDS,
    DevStack,
    StartDev,
    accepts_connections,
    free_ports,
    is_running,
    live_children,
    run_om_dev,
)

pytestmark = pytest.mark.e2e

needs_java = pytest.mark.skipif(
    find_java() is None, reason="DynamoDB Local needs Java 17+, and `java` is not installed here"
)

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
        assert [response.status_code for response in created] == [201] * 30
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
