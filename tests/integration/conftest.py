"""The API served by a real uvicorn on a free port, over each engine."""

from __future__ import annotations

import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from services.api.main import create_app
from services.api.settings import ApiSettings
from services.devstack.processes import free_port, spawn, stop, wait_for_port
from services.loader.cli import build_job
from services.loader.settings import LoaderSettings
from shared.access import ALL_SCOPES, Scope
from shared.batch_loads import BatchLoadService
from shared.models import BatchLoad
from shared.repository import AwsClients, OrderRepository, ensure_bucket, ensure_table, make_clients
from shared.repository.admin import delete_table
from shared.repository.api_keys import ApiKeyRepository
from shared.repository.loads import LoadRepository
from shared.repository.uploads import UploadStore
from tests.conftest import ENGINES, Store

ApiFactory = Callable[..., httpx.Client]


class LiveServer:
    """uvicorn in a thread; `stop()` asks it to exit and waits."""

    def __init__(self, app: FastAPI) -> None:
        self.port = free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_config=None)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture
def api_settings(store: Store) -> ApiSettings:
    """API settings for the test's table."""
    return ApiSettings(**store.settings.model_dump())


TEST_ACCOUNT = "test"


def bearer(key: str) -> dict[str, str]:
    """The Authorization header for `key`."""
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def mint_key(store: Store) -> Callable[..., str]:
    """Create a key in the test's table: `mint_key(account, *scopes)` → the key itself."""
    keys = ApiKeyRepository(store.clients.dynamodb, store.settings.table_name)

    def mint(account: str = TEST_ACCOUNT, *scopes: Scope) -> str:
        return keys.create(account, scopes or ALL_SCOPES, f"test key of {account}").secret

    return mint


@pytest.fixture
def serve_api(
    store: Store, api_settings: ApiSettings, mint_key: Callable[..., str]
) -> Iterator[ApiFactory]:
    """Start the API over HTTP; keyword arguments go to `create_app` (e.g. a broken repository).

    The client sends a key of account `test` with every scope; `key=` picks another (`None`:
    anonymous).
    """
    servers: list[LiveServer] = []
    clients: list[httpx.Client] = []
    default_key = mint_key()

    def start(**overrides: object) -> httpx.Client:
        settings = overrides.pop("settings", api_settings)
        key = overrides.pop("key", default_key)
        app = create_app(settings, clients=store.clients, **overrides)  # type: ignore[arg-type]
        server = LiveServer(app)
        servers.append(server)
        headers = bearer(key) if isinstance(key, str) else {}
        client = httpx.Client(base_url=server.start(), timeout=10, headers=headers)
        clients.append(client)
        return client

    yield start
    for client in clients:
        client.close()
    for server in servers:
        server.stop()


@pytest.fixture
def api(serve_api: ApiFactory) -> httpx.Client:
    """An HTTP client talking to the API over the test's table."""
    return serve_api()


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """moto's server in a child process, serialized as `om dev` runs it; its endpoint URL."""
    port = free_port()
    process = spawn(
        [sys.executable, "-m", "services.devstack.moto_server", "--port", str(port), "--serialize"],
        log=None,
    )
    try:
        wait_for_port("127.0.0.1", port, timeout=30, process=process)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(process)


@dataclass
class LoaderStore:
    """Loader settings on one engine (S3 always on moto server), with helpers to stage uploads."""

    engine: str
    settings: LoaderSettings
    clients: AwsClients
    service: BatchLoadService

    def upload(self, content: bytes, account: str = TEST_ACCOUNT) -> BatchLoad:
        """Start a load through the API's service and PUT `content` to its presigned URL."""
        load, url = self.service.start(account)
        response = httpx.put(url, content=content)
        assert response.status_code == 200, response.text
        return load

    def run(self, load: BatchLoad, **overrides: object) -> int:
        """Run the loader in-process on the load's object, as `om load-job` would."""
        settings = self.settings.model_copy(update=overrides)
        return build_job(settings).run(load.bucket, load.object_key)

    def orders(self) -> OrderRepository:
        return OrderRepository(self.clients.dynamodb, self.settings.table_name)


@pytest.fixture(params=ENGINES)
def loader_store(
    request: pytest.FixtureRequest, moto_server: str, tmp_path: Path
) -> Iterator[LoaderStore]:
    """A fresh table (moto server or DynamoDB Local) and bucket (moto server)."""
    table_name = f"om-load-{uuid.uuid4().hex[:12]}"
    dynamodb_url = moto_server
    if request.param == "dynamodb-local":
        dynamodb_url = request.getfixturevalue("dynamodb_local").endpoint_url
    settings = LoaderSettings(
        table_name=table_name,
        bucket_name=f"om-{uuid.uuid4().hex[:12]}",
        dynamodb_endpoint_url=dynamodb_url,
        s3_endpoint_url=moto_server,
        aws_access_key_id="omlocal",
        aws_secret_access_key="omlocalsecret",
        download_dir=tmp_path / "downloads",
        progress_interval_seconds=0.05,
        # moto slows down with thousands of items; a busy CI machine must not turn that into
        # timeouts (the production default is 3 s).
        read_timeout_seconds=30,
        write_deadline_seconds=30,
        load_workers=4,
        # A run killed in a test leaves its lease behind; the rerun waits it out (default 60 s).
        load_lease_seconds=3,
    )
    clients = make_clients(settings)
    ensure_table(clients.dynamodb, table_name)
    ensure_bucket(clients.s3, settings.bucket_name, settings.region)
    service = BatchLoadService(
        LoadRepository(clients.dynamodb, table_name),
        UploadStore(clients.s3),
        bucket=settings.bucket_name,
        upload_prefix=settings.upload_prefix,
        url_lifetime=timedelta(minutes=15),
    )
    yield LoaderStore(request.param, settings, clients, service)
    delete_table(clients.dynamodb, table_name)
