"""The API under faults AWS produces and the local engines never do, injected at the wire.

A proxy (`tests.support.fault_proxy`) sits between the API and DynamoDB Local and, for 5 % of the
requests of every operation, throttles, reports a transaction conflict or a cancelled transaction,
fails with a 500 or 503, applies a write and then loses or replaces its response, or stalls past
the client's read timeout. A mixed workload of makers, takers, quoters and a batch load runs over
HTTP meanwhile; afterwards every answer is checked against the table (`tests.support.fault_run`).
`bench/faults.py` runs the same for 10,000+ requests.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.api.main import create_app
from services.api.settings import ApiSettings
from services.devstack.dynamodb_local import DynamoDBLocal
from services.loader.cli import build_job
from services.loader.settings import LoaderSettings
from shared.access import Scope
from shared.errors import StoreUnavailable
from shared.models import LoadStatus
from shared.repository import ensure_bucket, ensure_table, make_clients
from shared.repository.admin import delete_table
from shared.repository.api_keys import ApiKeyRepository
from shared.repository.loads import LoadRepository
from tests.integration.conftest import LiveServer
from tests.support.fault_proxy import Fault, FaultPlan, FaultProxy
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

REQUESTS = 900
LOADED_ROWS = 300
STALL_SECONDS = 0.8
KEYS_SCOPES = {
    **{account: (Scope.READ, Scope.ORDERS) for account in MAKER_ACCOUNTS},
    TAKER_ACCOUNT: (Scope.READ, Scope.TRADE),
    LOADER_ACCOUNT: (Scope.READ, Scope.LOAD),
}


@pytest.fixture
def faulty_dynamodb(dynamodb_local: DynamoDBLocal) -> Iterator[tuple[FaultProxy, str]]:
    """A fresh table on DynamoDB Local behind a fault proxy (faults off until the test says)."""
    table = f"om-faults-{uuid.uuid4().hex[:8]}"
    plan = FaultPlan(rate=0.05, stall_seconds=STALL_SECONDS, enabled=False)
    with FaultProxy(dynamodb_local.endpoint_url, plan) as proxy:
        yield proxy, table
    direct = make_clients(
        ApiSettings(
            table_name=table,
            dynamodb_endpoint_url=dynamodb_local.endpoint_url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
    )
    delete_table(direct.dynamodb, table)


def test_every_answer_is_true_under_injected_faults(
    faulty_dynamodb: tuple[FaultProxy, str], moto_server: str, tmp_path: Path
) -> None:
    proxy, table = faulty_dynamodb
    settings = ApiSettings(
        table_name=table,
        bucket_name=f"om-faults-{uuid.uuid4().hex[:8]}",
        dynamodb_endpoint_url=proxy.url,
        s3_endpoint_url=moto_server,
        aws_access_key_id="omlocal",
        aws_secret_access_key="omlocalsecret",
        read_timeout_seconds=0.4,
        request_deadline_seconds=2.0,
    )
    clients = make_clients(settings)
    ensure_table(clients.dynamodb, table)
    ensure_bucket(clients.s3, settings.bucket_name, settings.region)
    api_keys = ApiKeyRepository(clients.dynamodb, table)
    keys = {
        account: api_keys.create(account, scopes, "fault run").secret
        for account, scopes in KEYS_SCOPES.items()
    }
    server = LiveServer(create_app(settings))
    base_url = server.start()

    loader = LoaderSettings(
        **settings.model_dump(include=set(LoaderSettings.model_fields)),
        download_dir=tmp_path / "downloads",
        load_workers=4,
        write_deadline_seconds=30,
    )

    def run_loader(object_key: str) -> bool:
        build_job(loader).run(settings.bucket_name, object_key)
        load_id = object_key.removeprefix(settings.upload_prefix).removesuffix(".csv")
        try:
            return (
                LoadRepository(clients.dynamodb, table).get(load_id).status is LoadStatus.SUCCEEDED
            )
        except StoreUnavailable:
            return False

    try:
        proxy.plan.enabled = True
        seen = run_workload(
            base_url,
            keys,
            Workload(requests=REQUESTS, makers=3, takers=5),
            extra=batch_load(base_url, keys[LOADER_ACCOUNT], LOADED_ROWS, run_loader),
        )
        proxy.plan.enabled = False
        time.sleep(STALL_SECONDS + 0.5)  # stalled requests land before the table is read
    finally:
        server.stop()
    problems, figures = check(seen, table_state(clients.dynamodb, table))
    injected = proxy.injected
    print(f"\nfault run: {figures}\ninjected: {dict(injected)}")
    assert problems == [], "\n".join(problems[:20])
    assert figures["status_200"] + figures["status_201"] > REQUESTS // 2
    assert sum(injected.values()) >= 40
    assert {Fault.RESPONSE_LOST.value, Fault.STALL.value, Fault.THROTTLING.value} <= set(injected)
