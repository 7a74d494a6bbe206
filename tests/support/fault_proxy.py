"""A fault-injecting DynamoDB endpoint: an HTTP proxy in front of DynamoDB Local.

DynamoDB Local never throttles, never reports a transaction conflict, never loses a response
after applying a write, never stalls. AWS does all of that, so the service's answers under those
faults can only be tested by producing them on the wire. For each request whose operation is in
the plan, with the plan's probability, the proxy injects one fault chosen among those the
DynamoDB API reference lists for that operation:

* an error answer without forwarding — throttling (`ProvisionedThroughputExceededException`,
  `ThrottlingException`, `RequestLimitExceeded`), `TransactionConflictException` (single-item
  writes), `TransactionCanceledException` with a `TransactionConflict` reason on one action
  (TransactWriteItems), `InternalServerError` (500), `ServiceUnavailable` (503);
* an ambiguous outcome — the request is forwarded and applied, then its response is dropped (the
  connection closes) or replaced by a 500: the client cannot tell that the write happened;
* a stall — the request is held past the client's read timeout, then forwarded and applied
  while the client is already retrying.

Neither engine checks signatures, so forwarding a request signed for the proxy's host is fine.
Counts of what was injected are kept per fault kind (`injected`).
"""

from __future__ import annotations

import http.client
import json
import random
import threading
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit


class Fault(StrEnum):
    """What the proxy can do to one request."""

    PROVISIONED_THROUGHPUT = "ProvisionedThroughputExceededException"
    THROTTLING = "ThrottlingException"
    REQUEST_LIMIT = "RequestLimitExceeded"
    TRANSACTION_CONFLICT = "TransactionConflictException"
    TRANSACTION_CANCELLED = "TransactionCanceledException"
    INTERNAL_ERROR = "InternalServerError"
    UNAVAILABLE = "ServiceUnavailable"
    RESPONSE_LOST = "response lost after the write"
    RESPONSE_REPLACED = "500 after the write"
    STALL = "stall past the read timeout"


_ANY = (
    Fault.PROVISIONED_THROUGHPUT,
    Fault.THROTTLING,
    Fault.REQUEST_LIMIT,
    Fault.INTERNAL_ERROR,
    Fault.UNAVAILABLE,
    Fault.RESPONSE_LOST,
    Fault.RESPONSE_REPLACED,
    Fault.STALL,
)
# Per operation, the faults its API reference lists (plus the transport ones every call can meet).
FAULTS_BY_OPERATION: dict[str, tuple[Fault, ...]] = {
    "GetItem": _ANY,
    "Query": _ANY,
    "PutItem": (*_ANY, Fault.TRANSACTION_CONFLICT),
    "UpdateItem": (*_ANY, Fault.TRANSACTION_CONFLICT),
    "DeleteItem": (*_ANY, Fault.TRANSACTION_CONFLICT),
    "BatchWriteItem": _ANY,
    "TransactWriteItems": (*_ANY, Fault.TRANSACTION_CANCELLED),
}
_STATUS = {Fault.INTERNAL_ERROR: 500, Fault.UNAVAILABLE: 503}


@dataclass
class FaultPlan:
    """Which operations get faults, how often, and which kinds (default: all that apply)."""

    rate: float = 0.05
    operations: frozenset[str] = frozenset(FAULTS_BY_OPERATION)
    kinds: frozenset[Fault] = frozenset(Fault)
    stall_seconds: float = 1.5
    seed: int = 7
    enabled: bool = True

    def choices(self, operation: str) -> list[Fault]:
        """The faults that may hit `operation` under this plan."""
        if operation not in self.operations:
            return []
        return [fault for fault in FAULTS_BY_OPERATION.get(operation, ()) if fault in self.kinds]


@dataclass
class _Tally:
    injected: Counter[str] = field(default_factory=Counter)
    requests: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)


class FaultProxy:
    """Forwards DynamoDB requests to `target`, injecting the faults of `plan`."""

    def __init__(self, target: str, plan: FaultPlan | None = None) -> None:
        self.target = urlsplit(target)
        self.plan = plan or FaultPlan()
        self._random = random.Random(self.plan.seed)
        self._random_lock = threading.Lock()
        self._tally = _Tally()
        self._local = threading.local()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                operation = self.headers.get("X-Amz-Target", "").rsplit(".", 1)[-1]
                fault = proxy._draw(operation)
                if fault is None:
                    self._answer(*proxy._forward(self.headers, body))
                    return
                proxy._count(fault)
                if fault is Fault.STALL:
                    time.sleep(proxy.plan.stall_seconds)
                    self._answer(*proxy._forward(self.headers, body))
                elif fault is Fault.RESPONSE_LOST:
                    proxy._forward(self.headers, body)
                    self.close_connection = True  # no answer at all: the client sees a reset
                elif fault is Fault.RESPONSE_REPLACED:
                    proxy._forward(self.headers, body)
                    self._answer(*_error(Fault.INTERNAL_ERROR, 500))
                elif fault is Fault.TRANSACTION_CANCELLED:
                    self._answer(*_cancelled(body, proxy._pick_index))
                else:
                    self._answer(*_error(fault, _STATUS.get(fault, 400)))

            def _answer(self, status: int, payload: bytes) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/x-amz-json-1.0")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True  # the client gave up (a stall): nothing to do

            def log_message(self, *_: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """The proxy's endpoint URL."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def injected(self) -> Counter[str]:
        """How many faults of each kind were injected so far."""
        with self._tally.lock:
            return Counter(self._tally.injected)

    @property
    def requests(self) -> Counter[str]:
        """How many requests of each operation went through."""
        with self._tally.lock:
            return Counter(self._tally.requests)

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _draw(self, operation: str) -> Fault | None:
        with self._tally.lock:
            self._tally.requests[operation] += 1
        choices = self.plan.choices(operation) if self.plan.enabled else []
        if not choices:
            return None
        with self._random_lock:
            if self._random.random() >= self.plan.rate:
                return None
            return self._random.choice(choices)

    def _pick_index(self, count: int) -> int:
        with self._random_lock:
            return self._random.randrange(count)

    def _count(self, fault: Fault) -> None:
        with self._tally.lock:
            self._tally.injected[fault.value] += 1

    def _forward(self, headers: Any, body: bytes) -> tuple[int, bytes]:
        connection: http.client.HTTPConnection | None = getattr(self._local, "connection", None)
        for attempt in range(2):
            if connection is None:
                connection = http.client.HTTPConnection(
                    self.target.hostname or "127.0.0.1", self.target.port, timeout=60
                )
                self._local.connection = connection
            try:
                connection.request(
                    "POST", "/", body=body, headers=_forwarded_headers(headers, len(body))
                )
                response = connection.getresponse()
                return response.status, response.read()
            except (http.client.HTTPException, OSError):
                connection.close()
                connection = self._local.connection = None
                if attempt:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover


def _forwarded_headers(headers: Any, length: int) -> dict[str, str]:
    forwarded = {"Content-Length": str(length)}
    for name in ("Content-Type", "X-Amz-Target", "Authorization", "X-Amz-Date"):
        if headers.get(name):
            forwarded[name] = headers[name]
    return forwarded


def _error(fault: Fault, status: int) -> tuple[int, bytes]:
    payload = {
        "__type": f"com.amazonaws.dynamodb.v20120810#{fault.value}",
        "message": f"injected by the fault proxy: {fault.value}",
    }
    return status, json.dumps(payload).encode()


def _cancelled(body: bytes, pick: Any) -> tuple[int, bytes]:
    actions = len(json.loads(body).get("TransactItems", [])) or 1
    conflicted = pick(actions)
    reasons: list[dict[str, str]] = [{"Code": "None"} for _ in range(actions)]
    reasons[conflicted] = {
        "Code": "TransactionConflict",
        "Message": "Transaction is ongoing for the item",
    }
    payload = {
        "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
        "message": "Transaction cancelled, please refer cancellation reasons for specific reasons "
        f"[{', '.join(reason['Code'] for reason in reasons)}]",
        "CancellationReasons": reasons,
    }
    return 400, json.dumps(payload).encode()


def operations_with(faults: Iterable[Fault]) -> frozenset[str]:
    """The operations that can meet at least one of `faults`."""
    wanted = set(faults)
    return frozenset(op for op, listed in FAULTS_BY_OPERATION.items() if wanted & set(listed))
