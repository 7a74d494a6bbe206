"""The API served by a real uvicorn over moto, with a key of every scope, for contract tests.

One engine is enough here: these tests check the HTTP contract (the document against the wire),
not the store; the integration tests run every store behaviour on moto and DynamoDB Local.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from services.api.main import create_app
from services.api.settings import ApiSettings
from shared.access import ALL_SCOPES, key_id_of
from shared.repository.api_keys import ApiKeyRepository
from tests.conftest import Store
from tests.integration.conftest import LiveServer, bearer

CONTRACT_ACCOUNT = "contract"


@dataclass(frozen=True)
class RunningApi:
    """Where the API listens, the key a client authenticates with, and that key's id."""

    base_url: str
    key: str

    @property
    def key_id(self) -> str:
        """The id `GET /api/keys` shows for `key`."""
        return key_id_of(self.key)

    def client(self) -> httpx.Client:
        """An HTTP client sending `key`."""
        return httpx.Client(base_url=self.base_url, headers=bearer(self.key), timeout=10)


@pytest.fixture
def running_api(store: Store) -> Iterator[RunningApi]:
    """The whole API (the metrics endpoint included) over HTTP, on the test's table."""
    # Deadlines far above any answer's time: a 503 here could only mean a busy CI machine, and
    # the run treats every 5xx as a failure.
    settings = ApiSettings(
        **{
            **store.settings.model_dump(),
            "metrics_endpoint": True,
            "request_deadline_seconds": 30,
            "read_timeout_seconds": 10,
            "trade_deadline_seconds": 30,
        }
    )
    key = ApiKeyRepository(store.clients.dynamodb, settings.table_name).create(
        CONTRACT_ACCOUNT, ALL_SCOPES, "contract tests"
    )
    server = LiveServer(create_app(settings, clients=store.clients))
    try:
        yield RunningApi(server.start(), key.secret)
    finally:
        server.stop()
