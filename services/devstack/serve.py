"""Serving the API inside `om dev`'s own process, so the terminal shows its JSON request log."""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING

import uvicorn

from services.devstack.errors import StackError

if TYPE_CHECKING:
    from fastapi import FastAPI

    from services.api.settings import ApiSettings

API_GRACEFUL_SHUTDOWN_SECONDS = 5


def build_app(settings: ApiSettings) -> FastAPI:
    """The API app; it opens no connection, so it can be built while the emulators start."""
    from services.api.main import create_app

    return create_app(settings)


def serve_api(app: FastAPI, settings: ApiSettings, sock: socket.socket) -> None:
    """Serve on the socket bound at preflight until Ctrl-C/SIGTERM, draining requests first."""
    config = uvicorn.Config(
        app,
        host=settings.api_host,
        port=settings.api_port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=API_GRACEFUL_SHUTDOWN_SECONDS,
    )
    server = uvicorn.Server(config)
    sock.listen(config.backlog)  # connections made after the banner wait instead of failing
    server.run(sockets=[sock])
    if not server.started and not server.should_exit:
        raise StackError("the API did not start; see its log lines above")
