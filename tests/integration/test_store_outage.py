"""The table hung (SIGSTOP), back (SIGCONT) and gone (killed): 503 + Retry-After on every
endpoint, liveness untouched, recovery without a restart. How fast the 503s come is a figure of
`bench/operability.py`, not an assertion here.

DynamoDB Local only (moto runs in-process and cannot be paused), on an instance of its own.
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

from services.api.main import create_app
from services.api.settings import ApiSettings
from services.devstack.dynamodb_local import DynamoDBLocal
from shared.access import ALL_SCOPES
from shared.repository import ensure_bucket, ensure_table, make_clients
from shared.repository.api_keys import ApiKeyRepository
from tests.integration.conftest import LiveServer, bearer
from tests.support.endpoints import EVERY_ENDPOINT, ORDER
from tests.support.java import require_java


@pytest.fixture
def own_dynamodb() -> Iterator[DynamoDBLocal]:
    """A DynamoDB Local this test may pause and kill."""
    require_java()
    with DynamoDBLocal() as server:
        yield server


@pytest.fixture
def outage_api(own_dynamodb: DynamoDBLocal, moto_server: str) -> Iterator[tuple[httpx.Client, int]]:
    """The API over the test's own DynamoDB Local, a cached key, order 1; and the JVM's pid."""
    settings = ApiSettings(
        table_name=f"om-outage-{uuid.uuid4().hex[:8]}",
        dynamodb_endpoint_url=own_dynamodb.endpoint_url,
        s3_endpoint_url=moto_server,
        aws_access_key_id="omlocal",
        aws_secret_access_key="omlocalsecret",
        circuit_breaker_cooldown_seconds=0.5,
    )
    clients = make_clients(settings.model_copy(update={"read_timeout_seconds": 10.0}))
    ensure_table(clients.dynamodb, settings.table_name)
    ensure_bucket(clients.s3, settings.bucket_name, settings.region)
    key = ApiKeyRepository(clients.dynamodb, settings.table_name).create("desk", ALL_SCOPES)
    server = LiveServer(create_app(settings))
    http = httpx.Client(base_url=server.start(), headers=bearer(key.secret), timeout=30)
    assert http.post("/api/orders/1", json=ORDER).status_code == 201  # the key is now cached
    process = own_dynamodb._process  # the JVM: paused and killed below
    assert process is not None
    try:
        yield http, process.pid
    finally:
        os.kill(process.pid, signal.SIGCONT)
        http.close()
        server.stop()


def assert_every_endpoint_is_503_and_liveness_200(http: httpx.Client) -> None:
    for method, path, body in EVERY_ENDPOINT:
        response = http.request(method, path, json=body)
        assert response.status_code == 503, (method, path, response.text)
        assert response.headers["Retry-After"] == "1"
        assert "detail" in response.json()
        assert http.get("/api/health/live").status_code == 200


def wait_until_healthy(http: httpx.Client) -> None:
    deadline = time.monotonic() + 30
    while http.get("/api/health").status_code != 200:
        assert time.monotonic() < deadline, "the API did not recover once the table was back"
        time.sleep(0.2)


def test_a_hung_table_is_503_everywhere_and_the_api_recovers_when_it_is_back(
    outage_api: tuple[httpx.Client, int],
) -> None:
    http, pid = outage_api
    os.kill(pid, signal.SIGSTOP)
    try:
        assert_every_endpoint_is_503_and_liveness_200(http)
    finally:
        os.kill(pid, signal.SIGCONT)
    wait_until_healthy(http)
    assert http.get("/api/orders/1").status_code == 200
    assert http.post("/api/orders/3", json=ORDER).status_code == 201


def test_a_killed_table_is_503_everywhere_never_500(outage_api: tuple[httpx.Client, int]) -> None:
    http, pid = outage_api
    os.kill(pid, signal.SIGKILL)
    time.sleep(0.5)  # let the JVM's socket close
    assert_every_endpoint_is_503_and_liveness_200(http)
