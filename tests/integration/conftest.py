"""The API served by a real uvicorn on a free port, over each engine."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from services.api.main import create_app
from services.api.settings import ApiSettings
from services.devstack.processes import free_port
from tests.conftest import Store

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


@pytest.fixture
def serve_api(store: Store, api_settings: ApiSettings) -> Iterator[ApiFactory]:
    """Start the API over HTTP; keyword arguments go to `create_app` (e.g. a broken repository)."""
    servers: list[LiveServer] = []
    clients: list[httpx.Client] = []

    def start(**overrides: object) -> httpx.Client:
        settings = overrides.pop("settings", api_settings)
        app = create_app(settings, clients=store.clients, **overrides)  # type: ignore[arg-type]
        server = LiveServer(app)
        servers.append(server)
        client = httpx.Client(base_url=server.start(), timeout=10)
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
