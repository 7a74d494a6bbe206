"""Fixtures shared by every test layer: the two DynamoDB engines and a fresh table per test.

`engine` runs a test once on moto (in-process) and once on AWS's DynamoDB Local. DynamoDB Local
needs Java; where `java` is missing those runs are skipped with that reason. Everything else
(a failed fetch of the emulator, a JVM that does not start) fails the test: CI has Java.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from moto import mock_aws
from moto.core.models import botocore_stubber

from services.devstack.dynamodb_local import DynamoDBLocal
from shared.repository import AwsClients, ensure_bucket, ensure_table, make_clients
from shared.repository.admin import delete_table
from shared.settings import AwsSettings
from tests.support.java import require_java

ENGINES = ("moto", "dynamodb-local")


@pytest.fixture(autouse=True, scope="session")
def _no_real_aws() -> Iterator[None]:
    """Dummy credentials and no profile, so no test can ever sign a request for a real account."""
    saved = dict(os.environ)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        os.environ.pop(name, None)
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_EC2_METADATA_DISABLED="true",
    )
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture(scope="session")
def dynamodb_local() -> Iterator[DynamoDBLocal]:
    """One in-memory DynamoDB Local for the whole run."""
    require_java()
    with DynamoDBLocal() as server:
        yield server


_MOTO_LOCK = threading.Lock()


def moto_one_at_a_time(**kwargs: Any) -> Any:
    """moto's request stub, one request at a time (see `serialize_moto`)."""
    with _MOTO_LOCK:
        return botocore_stubber(**kwargs)


def serialize_moto(clients: AwsClients) -> None:
    """Let moto handle one request at a time, as `om dev --engine moto` does.

    Measured with moto 5.2.5: concurrent requests lose acknowledged writes (a cancelled
    transaction restores a copy of the whole table). botocore calls every `before-send`
    handler, so moto's stub is swapped for a locked call of the same stub, not merely fronted.
    """
    for client in (clients.dynamodb, clients.s3):
        client.meta.events.unregister("before-send", botocore_stubber)
        client.meta.events.register("before-send", moto_one_at_a_time)


@dataclass(frozen=True)
class Store:
    """A fresh table (and bucket) on one engine, with the settings and clients that reach it."""

    engine: str
    settings: AwsSettings
    clients: AwsClients


@pytest.fixture(params=ENGINES)
def store(request: pytest.FixtureRequest) -> Iterator[Store]:
    """A fresh table on each engine in turn."""
    table_name = f"om-test-{uuid.uuid4().hex[:12]}"
    if request.param == "moto":
        with mock_aws():
            settings = AwsSettings(table_name=table_name)
            clients = make_clients(settings)
            serialize_moto(clients)
            ensure_table(clients.dynamodb, table_name)
            ensure_bucket(clients.s3, settings.bucket_name, settings.region)
            yield Store("moto", settings, clients)
        return
    server: DynamoDBLocal = request.getfixturevalue("dynamodb_local")
    settings = AwsSettings(
        table_name=table_name,
        dynamodb_endpoint_url=server.endpoint_url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    clients = make_clients(settings)
    ensure_table(clients.dynamodb, table_name)
    yield Store("dynamodb-local", settings, clients)
    delete_table(clients.dynamodb, table_name)
