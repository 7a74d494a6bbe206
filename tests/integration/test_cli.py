"""The `om` console script run as a user (or a container) runs it, outside any container."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from services.devstack.dynamodb_local import DynamoDBLocal
from services.devstack.processes import free_port
from shared.access import key_id_of
from shared.repository import make_clients
from shared.schema import TABLE
from shared.settings import AwsSettings
from shared.workbench import render_workbench_model

OM = str(Path(sys.executable).parent / "om")


def om_env(dynamodb_local: DynamoDBLocal, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OM_")}
    env.update(
        OM_DYNAMODB_ENDPOINT_URL=dynamodb_local.endpoint_url,
        OM_AWS_ACCESS_KEY_ID="omlocal",
        OM_AWS_SECRET_ACCESS_KEY="omlocalsecret",
        **extra,
    )
    return env


def run_om(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([OM, *args], env=env, capture_output=True, text=True, timeout=60)


def test_table_create_builds_the_declared_table_and_is_idempotent(
    dynamodb_local: DynamoDBLocal,
) -> None:
    env = om_env(dynamodb_local, OM_TABLE_NAME="om-cli-create")
    first = run_om("table", "create", "--no-bucket", env=env)
    assert first.returncode == 0, first.stderr
    assert "table om-cli-create: created" in first.stdout
    second = run_om("table", "create", "--no-bucket", env=env)
    assert "table om-cli-create: exists" in second.stdout

    settings = AwsSettings(
        dynamodb_endpoint_url=dynamodb_local.endpoint_url,
        aws_access_key_id="omlocal",
        aws_secret_access_key="omlocalsecret",
    )
    client = make_clients(settings).dynamodb
    table = client.describe_table(TableName="om-cli-create")["Table"]
    assert table["KeySchema"] == TABLE.key_schema()
    assert [index["IndexName"] for index in table["GlobalSecondaryIndexes"]] == ["GSI1"]
    ttl = client.describe_time_to_live(TableName="om-cli-create")["TimeToLiveDescription"]
    assert ttl.get("AttributeName") == TABLE.ttl_attribute


def test_table_create_on_unreachable_endpoint_exits_1_with_a_reason() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OM_")}
    env.update(
        OM_DYNAMODB_ENDPOINT_URL="http://127.0.0.1:9",
        OM_CONNECT_TIMEOUT_SECONDS="0.2",
        OM_MAX_ATTEMPTS="1",
    )
    result = run_om("table", "create", "--no-bucket", env=env)
    assert result.returncode == 1
    assert "unreachable" in result.stderr
    assert "Traceback" not in result.stderr


def test_invalid_setting_exits_2_naming_the_variable() -> None:
    env = {**os.environ, "OM_API_PORT": "eighty"}
    result = run_om("api", env=env)
    assert result.returncode == 2
    assert "OM_API_PORT" in result.stderr
    assert "Traceback" not in result.stderr


def test_om_api_serves_the_table_and_stops_cleanly_on_sigterm(
    dynamodb_local: DynamoDBLocal,
) -> None:
    env = om_env(dynamodb_local, OM_TABLE_NAME="om-cli-api")
    assert run_om("table", "create", "--no-bucket", env=env).returncode == 0
    made = run_om("keys", "create", "--account", "desk", "--scopes", "read,orders", env=env)
    assert made.returncode == 0, made.stderr
    auth = {"Authorization": f"Bearer {made.stdout.splitlines()[-1]}"}
    port = free_port()
    process = subprocess.Popen(
        [OM, "api", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                health = httpx.get(f"{base}/api/health", timeout=2)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or process.poll() is not None:
                    pytest.fail("om api did not come up")
                time.sleep(0.1)
        assert health.status_code == 200
        order = {"symbol": "JPM", "side": 0, "amount": 20, "price": 20}
        assert httpx.post(f"{base}/api/orders/1", json=order).status_code == 401
        created = httpx.post(f"{base}/api/orders/1", json=order, headers=auth)
        assert created.status_code == 201
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    # uvicorn finishes its graceful shutdown, then re-raises SIGTERM so a supervisor sees the
    # conventional "terminated by SIGTERM" status.
    assert process.returncode in (0, -signal.SIGTERM)
    assert "Finished server process" in stderr
    log_lines = [line for line in stderr.splitlines() if '"message":"request"' in line]
    assert any('"path":"/api/orders/1"' in line and '"status":201' in line for line in log_lines)


def test_export_workbench_writes_the_rendered_model(tmp_path: Path) -> None:
    target = tmp_path / "model.json"
    result = run_om("table", "export-workbench", "--output", str(target), env=dict(os.environ))
    assert result.returncode == 0, result.stderr
    assert target.read_text() == render_workbench_model()


def test_keys_create_list_revoke_round_trip_and_bad_input_exit_codes(
    dynamodb_local: DynamoDBLocal,
) -> None:
    env = om_env(dynamodb_local, OM_TABLE_NAME="om-cli-keys")
    assert run_om("table", "create", "--no-bucket", env=env).returncode == 0
    made = run_om(
        "keys", "create", "--account", "ops", "--scopes", "admin", "--name", "boot", env=env
    )
    assert made.returncode == 0, made.stderr
    key = made.stdout.splitlines()[-1]
    assert key.startswith("om_") and len(key) >= 32
    key_id = key_id_of(key)
    assert key_id in made.stderr
    listed = run_om("keys", "list", "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    entries = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [(e["keyId"], e["account"], e["scopes"], e["revokedAt"]) for e in entries] == [
        (key_id, "ops", ["admin"], None)
    ]
    assert key not in listed.stdout
    revoked = run_om("keys", "revoke", key_id, env=env)
    assert revoked.returncode == 0, revoked.stderr
    again = run_om("keys", "revoke", key_id, env=env)
    assert (again.returncode, "already revoked" in again.stderr) == (1, True)
    unknown = run_om("keys", "revoke", "0" * 24, env=env)
    assert (unknown.returncode, "does not exist" in unknown.stderr) == (1, True)
    for bad in (
        ("keys", "create", "--account", "no spaces", "--scopes", "read"),
        ("keys", "create", "--account", "ops", "--scopes", "read,superuser"),
        ("keys", "create", "--account", "ops", "--scopes", ""),
        ("keys", "revoke", "not-an-id"),
    ):
        result = run_om(*bad, env=env)
        assert result.returncode == 2, (bad, result.stderr)
        assert "Traceback" not in result.stderr
