"""moto's all-services server, run as a child process of `om dev`.

    python -m services.devstack.moto_server --host 127.0.0.1 --port 5000 [--port 8000] [--serialize]

Design choices:

* moto's own `DomainDispatcherApplication` (every service, routed by the request's signature) on
  werkzeug's threaded server with moto's request handler: the same stack as `moto_server`, minus
  its reloader and debug mode.
* `--port` may be given more than once. Every port is served by one process, so they share one set
  of in-memory backends: in moto mode `om dev` keeps DynamoDB on its own port and S3 on another,
  exactly as with DynamoDB Local, while both live in one moto.
* `--serialize` handles one request at a time, across all ports. moto's DynamoDB is not safe under
  concurrent requests: a failed transaction restores a copy of the whole table, silently dropping
  writes that other requests had already acknowledged. The lock is held until the whole response
  body has been produced, because a WSGI app may do its work lazily while the body is iterated.
* moto's `transact_write_items` backs the table up (a deep copy) once per *action* of a
  transaction, so a 100-action transaction on a table of a few thousand items takes seconds and
  the loader's transactional batches time out. `copy_each_table_once_per_transaction` makes it one
  copy per table per transaction: the same rollback, a hundredth of the work.
* SIGTERM and SIGINT shut the servers down and exit 0; data lives in memory only and goes with it.
  The process also stops when its parent goes away (it polls its parent pid): `om dev` sets a
  parent-death signal too, but that is Linux-only and must not be the only guard against an
  emulator outliving a killed `om dev`.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from collections.abc import Iterable, Sequence
from types import FrameType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment
    from werkzeug.serving import BaseWSGIServer


PARENT_POLL_SECONDS = 0.5


class StopRequested(Exception):
    """Raised in the main thread by SIGTERM or SIGINT."""


def _stop_requested(signum: int, frame: FrameType | None) -> None:
    # Raising (rather than setting an Event) cannot deadlock on a lock the interrupted code holds.
    raise StopRequested


class SerializedApp:
    """WSGI middleware that lets one request at a time run, response body included."""

    def __init__(self, app: WSGIApplication) -> None:
        self._app = app
        self._lock = threading.Lock()

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        with self._lock:
            result = self._app(environ, start_response)
            try:
                return list(result)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line: where to listen and whether to serialize requests."""
    parser = argparse.ArgumentParser(
        prog="python -m services.devstack.moto_server",
        description="Serve every moto service (in memory) on one or more ports.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    parser.add_argument(
        "--port",
        type=int,
        action="append",
        required=True,
        help="port to serve on; repeat it to serve the same backends on several ports",
    )
    parser.add_argument(
        "--serialize",
        action="store_true",
        help="handle one request at a time (needed for moto's DynamoDB to keep every write)",
    )
    return parser.parse_args(argv)


def copy_each_table_once_per_transaction() -> None:
    """Patch moto's DynamoDB so a transaction backs each table up once (see the docstring)."""
    import copy as real_copy

    from moto.dynamodb import models
    from moto.dynamodb.models.table import Table

    copies = threading.local()

    class _CopyOncePerTable:
        """`copy` as moto's DynamoDB module sees it: tables copied once per transaction."""

        def __getattr__(self, name: str) -> object:
            return getattr(real_copy, name)

        def deepcopy(self, value: object, memo: dict[int, object] | None = None) -> object:
            cache: dict[int, object] | None = getattr(copies, "tables", None)
            if cache is None or not isinstance(value, Table):
                return real_copy.deepcopy(value, memo)
            if id(value) not in cache:
                cache[id(value)] = real_copy.deepcopy(value, memo)
            return cache[id(value)]

    transact = models.DynamoDBBackend.transact_write_items

    def transact_write_items(
        self: models.DynamoDBBackend, transact_items: list[dict[str, object]]
    ) -> None:
        copies.tables = {}
        try:
            transact(self, transact_items)
        finally:
            copies.tables = None

    setattr(models, "copy", _CopyOncePerTable())  # noqa: B010 - not an exported name
    models.DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until SIGTERM/SIGINT or the parent's exit; 0 then, 1 if a port cannot be bound."""
    args = parse_args(argv)
    # moto (and Flask) take a second or two to import: only pay for it once the arguments are good.
    # moto.server re-exports these without `__all__`, which mypy --strict rejects.
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    copy_each_table_once_per_transaction()
    app: WSGIApplication = DomainDispatcherApplication(create_backend_app)
    if args.serialize:
        app = SerializedApp(app)

    parent = os.getppid()
    servers: list[BaseWSGIServer] = []
    serving: list[BaseWSGIServer] = []
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _stop_requested)
    try:
        for port in args.port:
            # A port it cannot bind, werkzeug reports in one line and exits 1 (SystemExit).
            servers.append(
                make_server(args.host, port, app, threaded=True, request_handler=MotoRequestHandler)
            )
        for server in servers:
            threading.Thread(target=server.serve_forever, daemon=True).start()
            serving.append(server)
        ports = ", ".join(str(port) for port in args.port)
        mode = "serialized" if args.serialize else "concurrent"
        print(f"moto server: listening on {args.host} port(s) {ports} ({mode})", flush=True)
        while os.getppid() == parent:
            time.sleep(PARENT_POLL_SECONDS)
    except StopRequested:
        pass
    finally:
        # From here a second signal ends the process at once.
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, signal.SIG_DFL)
        _shut_down(serving)
        for server in servers:
            server.server_close()
    print("moto server: stopped", flush=True)
    return 0


def _shut_down(serving: list[BaseWSGIServer]) -> None:
    # Each shutdown waits out its server's poll interval: overlap them so every port closes at once.
    # Only servers whose loop was started: shutdown() would wait forever for one that never ran.
    closers = [threading.Thread(target=server.shutdown) for server in serving]
    for closer in closers:
        closer.start()
    for closer in closers:
        closer.join()


if __name__ == "__main__":
    sys.exit(main())
