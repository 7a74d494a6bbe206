"""`LoadBatchWriter`'s own HTTP path against a local HTTP server: what goes on the wire (a signed
POST, botocore's signature for it), keep-alive per thread, and what a dropped, refused, silent or
non-JSON endpoint becomes (`test_load_writer.py` covers what the writer makes of each answer)."""

from __future__ import annotations

import datetime as dt
import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from botocore import auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from pydantic import SecretStr

from shared import codecs
from shared.models import Order, Side
from shared.repository.load_writer import BatchRow, LoadBatch, LoadBatchWriter
from shared.settings import AwsSettings

TRANSACT = "DynamoDB_20120810.TransactWriteItems"
LOAD_ID = "0123456789abcdef0123456789abcdef"


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Endpoint:
    """What the server saw and how it answers."""

    url: str = ""
    requests: list[Received] = field(default_factory=list)
    connections: set[tuple[str, int]] = field(default_factory=set)
    status: int = 200
    answer: bytes = b"{}"
    close_after_answer: bool = False
    closed: threading.Semaphore = field(default_factory=lambda: threading.Semaphore(0))
    """Released each time the server has closed a connection."""


@contextmanager
def serving(endpoint: Endpoint) -> Iterator[Endpoint]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            endpoint.requests.append(Received(self.path, dict(self.headers.items()), body))
            endpoint.connections.add(self.client_address)
            self.send_response(endpoint.status)
            self.send_header("Content-Type", "application/x-amz-json-1.0")
            self.send_header("Content-Length", str(len(endpoint.answer)))
            self.end_headers()
            self.wfile.write(endpoint.answer)
            self.wfile.flush()
            if endpoint.close_after_answer:  # as an idle keep-alive timing out would
                self.close_connection = True

        def log_message(self, *_: object) -> None:
            pass

    class Server(ThreadingHTTPServer):
        def shutdown_request(self, request: object) -> None:
            super().shutdown_request(request)  # type: ignore[arg-type]
            endpoint.closed.release()

    server = Server(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    endpoint.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield endpoint
    finally:
        server.shutdown()
        server.server_close()


def writer_for(url: str, **settings: float) -> LoadBatchWriter:
    aws = AwsSettings(
        table_name="om-test.orders",
        dynamodb_endpoint_url=url,
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key=SecretStr("secret"),
        region="eu-west-1",
        **settings,
    )
    return LoadBatchWriter(aws, load_id=LOAD_ID, account="desk-7", deadline_seconds=0.05)


def one_row_batch(number: int = 0) -> LoadBatch:
    at = dt.datetime(2024, 5, 16, tzinfo=dt.UTC)
    order = Order(1, "AAPL", Side.BUY, 1, codecs.Decimal(1), "0" * 19 + ".0", 1, at, at, "d", "t")
    row = BatchRow(1, codecs.order_item_json(order), (2,))
    return LoadBatch(partition=0, number=number, rows=[row])


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    with serving(Endpoint()) as running:
        yield running


def test_a_batch_is_a_post_signed_as_botocore_signs_it(
    endpoint: Endpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer = writer_for(endpoint.url)
    assert writer.write(one_row_batch()).loaded == 1
    [sent] = endpoint.requests
    assert sent.path == "/"
    assert json.loads(sent.body)["TransactItems"][1]["Put"]["Item"]["PK"] == {"S": "ORDER#1"}
    # botocore's signature for the same request at the instant the writer stamped on it.
    stamp = dt.datetime.strptime(sent.headers["X-Amz-Date"], "%Y%m%dT%H%M%SZ")
    monkeypatch.setattr(auth, "get_current_datetime", lambda *_: stamp)
    request = AWSRequest(
        method="POST",
        url=endpoint.url,
        data=sent.body,
        headers={"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": TRANSACT},
    )
    auth.SigV4Auth(Credentials("AKIDEXAMPLE", "secret"), "dynamodb", "eu-west-1").add_auth(request)
    assert sent.headers["Authorization"] == request.headers["Authorization"]
    assert sent.headers["X-Amz-Target"] == TRANSACT
    assert sent.headers["Host"] == endpoint.url.removeprefix("http://")


def test_a_thread_keeps_its_connection_and_threads_do_not_share_one(endpoint: Endpoint) -> None:
    writer = writer_for(endpoint.url)
    for number in range(3):
        writer.write(one_row_batch(number))
    assert len(endpoint.connections) == 1
    other = threading.Thread(target=writer.write, args=(one_row_batch(3),))
    other.start()
    other.join()
    assert len(endpoint.connections) == 2
    assert writer.retries == 0


def test_a_connection_the_server_closed_is_replaced_before_the_next_request(
    endpoint: Endpoint,
) -> None:
    endpoint.close_after_answer = True
    writer = writer_for(endpoint.url)
    for number in range(3):
        assert writer.write(one_row_batch(number)).loaded == 1
        assert endpoint.closed.acquire(timeout=5)  # the server has closed it: now idle, closed
    assert writer.retries == 0  # no request was sent on a closed connection
    assert len(endpoint.connections) == 3


def test_an_answer_that_is_not_json_keeps_its_status(endpoint: Endpoint) -> None:
    endpoint.status, endpoint.answer = 502, b"<html>Bad Gateway</html>"
    assert writer_for(endpoint.url)._call(TRANSACT, b"{}") == (502, {})


def test_a_refused_connection_is_reported_not_raised() -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    status, payload = writer_for(f"http://127.0.0.1:{port}")._call(TRANSACT, b"{}")
    assert (status, payload) == (None, {"message": "connection failed (ConnectionRefusedError)"})


def test_a_silent_endpoint_times_out_and_the_next_call_connects_anew(endpoint: Endpoint) -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        writer = writer_for(f"http://127.0.0.1:{silent.getsockname()[1]}", read_timeout_seconds=0.1)
        status, payload = writer._call(TRANSACT, b"{}")
    assert (status, payload) == (None, {"message": "connection failed (TimeoutError)"})
    assert writer._local.connection is None
