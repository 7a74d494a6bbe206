"""The loader's writer: each batch of rows is one TransactWriteItems with a marker of its own.

**Why transactions.** Loading is an upsert within the account, and reruns (a duplicate S3 event,
a Batch retry, a crash and rerun) must never undo later work. So every row is a conditional put —
the order id is free, a gone order, or already this account's — and every batch also writes its
**marker** item (`LOAD#<load>#BATCH#<partition>#<n>`, `attribute_not_exists`) in the same
transaction. A batch is therefore applied whole or not at all, and once applied it can never be
applied again: a rerun that sends the same batch fails on the marker, reads from it what the batch
did (rows loaded, rows rejected because another account owns the id) and moves on. An order a
trade filled, an amend or a delete made after the load wrote it is never touched again by that
load. The same holds when a response is lost after the write and the request is retried.
BatchWriteItem cannot carry conditions, which is why it is not used; the price is that a
transactional write costs two write units per item on AWS (see the README, *Batch loads*).

**Why by hand.** boto3 spends ~1-2 ms of CPU per request walking its shape model to serialize the
items, which caps one process (one GIL) at a few thousand rows/s. The loader encodes each item once
as JSON text (`codecs.order_item_json_text`), joins a batch into the request body around fixed
fragments, signs it with `RequestSigner` (SigV4 with the signing key cached per day, checked
against botocore's signer) and sends it over a keep-alive `http.client` connection of the calling
thread's own. Credentials come from the same boto3 session chain (task role on AWS), refreshed as
they rotate.

Every call retries, with exponential backoff and full jitter, until a deadline: throttling, a
transaction that met another (a trade filling one of the orders), 5xx and connection errors.
"""

from __future__ import annotations

import http.client
import json
import random
import select
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from shared import keys
from shared.codecs import (
    ACCOUNT,
    ENTITY,
    load_batch_key,
    load_batch_marker,
    load_batch_result,
    string,
)
from shared.errors import StoreUnavailable
from shared.models import RowError
from shared.repository.clients import dynamodb_endpoint, make_session
from shared.repository.signing import RequestSigner
from shared.schema import PARTITION_KEY
from shared.settings import AwsSettings

SERVICE = "dynamodb"
"""The SigV4 service name of DynamoDB."""
MAX_TRANSACTION_ITEMS = 100
MAX_BATCH_ROWS = MAX_TRANSACTION_ITEMS - 1
"""A batch's rows and its marker fill one transaction."""
MAX_BATCH_LINES = 1000
"""File rows one batch may stand for (a file repeating one id): bounds the marker, which lists the
batch's rejected lines, far below DynamoDB's 400 KB item limit. Part of how batches are cut, so
reruns depend on it: change it only together with the plan pinned on loads."""
MARKER_LIFETIME_SECONDS = 7 * 24 * 3600
"""How long a batch marker is kept (the table's TTL then removes it); reruns come within hours."""

# Whole-request errors worth another attempt, and per-item cancellation reasons likewise.
_RETRYABLE_TYPES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
        "TransactionInProgressException",
        "TransactionConflictException",
    }
)
_RETRYABLE_REASONS = frozenset(
    {"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded", "None"}
)
_FAILED_CONDITION = "ConditionalCheckFailed"

ROW_CONDITION = f"attribute_not_exists({PARTITION_KEY}) OR #e = :g OR #a = :m"
"""Every row's Put: the order id is free, a gone order, or this account's. TransactWriteItems
repeats a condition's attribute names (`#e`, `#a`) and values (`:g`, `:m`) in every Put, so they
are one letter each: spelt out, they were a tenth of a row's bytes."""
ROW_CONDITION_NAMES = {"#e": ENTITY, "#a": ACCOUNT}


def owned_elsewhere(order_id: int) -> str:
    """The reason a row is rejected when its order id belongs to another account."""
    return f"order {order_id} belongs to another account"


class BatchRow(NamedTuple):
    """One order of a batch: its item JSON and the file lines it stands for.

    Several rows of a file for one id collapse into the last one (the last row wins); `lines`
    keeps every line, so a rejection reports them all and the counts stay per file row. (A named
    tuple rather than a frozen dataclass: the loader makes one per file row.)
    """

    order_id: int
    item_json: str
    lines: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class LoadBatch:
    """Rows with distinct order ids, identified by (partition, number) within their load."""

    partition: int
    number: int
    rows: Sequence[BatchRow]


@dataclass(frozen=True, slots=True)
class BatchResult:
    """What a batch did: file rows written, rows rejected, and whether an earlier run wrote it."""

    loaded: int
    rejected: tuple[RowError, ...]
    written_before: bool


class BatchWriteRejected(Exception):
    """DynamoDB refused a batch for a reason retrying cannot fix (a bug in what we sent)."""


class LoadTransactions:
    """The TransactWriteItems request bodies of one load's batches (pure; no I/O).

    Public so that `bench/loader.py` measures the engine's ceiling with exactly these requests.
    """

    def __init__(self, table_name: str, *, load_id: str, account: str) -> None:
        self._table = table_name
        self._load_id = load_id
        table = json.dumps(table_name)
        # The fixed part of every row's Put: the order id is free, gone, or this account's.
        values = {":g": string(keys.GONE_ENTITY), ":m": string(account)}
        self._row_prefix = (
            f'{{"Put":{{"TableName":{table},'
            f'"ConditionExpression":{json.dumps(ROW_CONDITION)},'
            f'"ExpressionAttributeNames":{json.dumps(ROW_CONDITION_NAMES)},'
            f'"ExpressionAttributeValues":{json.dumps(values)},'
            '"Item":'
        )

    def body(
        self,
        batch: LoadBatch,
        rows: Sequence[BatchRow],
        loaded: int,
        rejected: tuple[RowError, ...],
        *,
        expires_at: int,
    ) -> bytes:
        """The request writing `rows` of `batch` and its marker (which records `loaded` file
        rows and the `rejected` ones, and expires at `expires_at`, epoch seconds)."""
        marker = load_batch_key(self._load_id, batch.partition, batch.number) | load_batch_marker(
            loaded, rejected, expires_at
        )
        marker_put = {
            "Put": {
                "TableName": self._table,
                "ConditionExpression": f"attribute_not_exists({PARTITION_KEY})",
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                "Item": marker,
            }
        }
        actions = [json.dumps(marker_put)]
        actions += [f"{self._row_prefix}{row.item_json}}}}}" for row in rows]
        return f'{{"TransactItems":[{",".join(actions)}]}}'.encode()


class LoadBatchWriter:
    """Writes one load's batches (see the module docstring). Thread-safe."""

    def __init__(
        self,
        settings: AwsSettings,
        *,
        load_id: str,
        account: str,
        deadline_seconds: float = 120.0,
        base_delay: float = 0.02,
        max_delay: float = 2.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._load_id = load_id
        url = dynamodb_endpoint(settings)
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) endpoint: {url}")
        credentials = make_session(settings).get_credentials()
        if credentials is None:
            raise StoreUnavailable("no AWS credentials found for DynamoDB")
        self._signer = RequestSigner(credentials, url=url, region=settings.region, service=SERVICE)
        self._address = (parts.hostname, parts.port)
        self._tls = ssl.create_default_context() if parts.scheme == "https" else None
        self._timeouts = (settings.connect_timeout_seconds, settings.read_timeout_seconds)
        self._local = threading.local()
        self._deadline = deadline_seconds
        self._base_delay = base_delay
        self._max_delay = max_delay
        self._sleep = sleep
        self._clock = clock
        self._table = settings.table_name
        self._transactions = LoadTransactions(settings.table_name, load_id=load_id, account=account)
        self.requests_sent = 0
        self.retries = 0

    def write(self, batch: LoadBatch) -> BatchResult:
        """Apply the batch once. Raises `StoreUnavailable` past the deadline."""
        if not 0 <= len(batch.rows) <= MAX_BATCH_ROWS:
            raise ValueError(f"a batch holds at most {MAX_BATCH_ROWS} rows, not {len(batch.rows)}")
        rows = list(batch.rows)
        rejected: list[RowError] = []
        deadline = time.monotonic() + self._deadline
        attempt = 0
        while True:
            loaded = sum(len(row.lines) for row in rows)
            outcome = self._send(self._body(batch, rows, loaded, tuple(rejected)), batch)
            if outcome.done:
                return BatchResult(loaded, tuple(rejected), written_before=False)
            if outcome.marker is not None:
                loaded, earlier = load_batch_result(outcome.marker)
                return BatchResult(loaded, earlier, written_before=True)
            if outcome.owned:
                for index in sorted(outcome.owned, reverse=True):
                    row = rows.pop(index)
                    rejected += [
                        RowError(line, owned_elsewhere(row.order_id)) for line in row.lines
                    ]
                rejected.sort(key=lambda error: error.line)
                continue  # a different transaction now: send it without waiting
            attempt += 1
            self.retries += 1
            pause = random.random() * min(
                self._max_delay, self._base_delay * 2.0 ** min(attempt, 32)
            )
            if time.monotonic() + pause > deadline:
                raise StoreUnavailable(f"TransactWriteItems kept failing: {outcome.why}")
            self._sleep(pause)

    def _body(
        self,
        batch: LoadBatch,
        rows: Sequence[BatchRow],
        loaded: int,
        rejected: tuple[RowError, ...],
    ) -> bytes:
        expires_at = int(self._clock()) + MARKER_LIFETIME_SECONDS
        return self._transactions.body(batch, rows, loaded, rejected, expires_at=expires_at)

    def _send(self, body: bytes, batch: LoadBatch) -> _Outcome:
        status, payload = self._call("DynamoDB_20120810.TransactWriteItems", body)
        if status == 200:
            return _Outcome(done=True)
        if status is None:
            return _Outcome(why=str(payload.get("message")))
        kind = str(payload.get("__type", "")).rsplit("#", 1)[-1]
        if kind == "TransactionCanceledException":
            return self._cancelled(list(payload.get("CancellationReasons") or []), batch)
        if status >= 500 or kind in _RETRYABLE_TYPES:
            return _Outcome(why=f"HTTP {status} {kind}")
        raise BatchWriteRejected(f"HTTP {status} {kind}: {payload.get('message', '')}")

    def _cancelled(self, reasons: list[dict[str, Any]], batch: LoadBatch) -> _Outcome:
        codes = [str(reason.get("Code") or "None") for reason in reasons]
        if not codes:
            return _Outcome(why="transaction cancelled without reasons")
        if codes[0] == _FAILED_CONDITION:  # the marker exists: this batch was written before
            marker = reasons[0].get("Item") or self._read_marker(batch)
            if marker is None:
                return _Outcome(why="the batch marker vanished between two reads")
            return _Outcome(marker=marker)
        owned = [i - 1 for i, code in enumerate(codes) if i and code == _FAILED_CONDITION]
        if owned:
            return _Outcome(owned=owned)
        unexpected = sorted(set(codes) - _RETRYABLE_REASONS)
        if unexpected:
            raise BatchWriteRejected(f"transaction cancelled: {', '.join(unexpected)}")
        return _Outcome(why=f"transaction cancelled: {', '.join(sorted(set(codes) - {'None'}))}")

    def _read_marker(self, batch: LoadBatch) -> dict[str, Any] | None:
        """The marker item, read back when the engine did not return it with the failure."""
        key = load_batch_key(self._load_id, batch.partition, batch.number)
        request = {"TableName": self._table, "Key": key, "ConsistentRead": True}
        status, payload = self._call("DynamoDB_20120810.GetItem", json.dumps(request).encode())
        if status != 200:
            return None
        item: dict[str, Any] | None = payload.get("Item")
        return item

    def _call(self, target: str, body: bytes) -> tuple[int | None, dict[str, Any]]:
        """(HTTP status or None when the connection failed, decoded JSON answer)."""
        headers = self._signer.headers(target, body)
        self.requests_sent += 1
        connection = self._connection()
        try:
            connection.request("POST", self._signer.path, body=body, headers=headers)
            response = connection.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException) as error:
            connection.close()  # its state is unknown: the next call starts a new one
            self._local.connection = None
            return None, {"message": f"connection failed ({type(error).__name__})"}
        try:
            payload: dict[str, Any] = json.loads(data or b"{}")
        except ValueError:
            payload = {}
        return response.status, payload

    def _connection(self) -> http.client.HTTPConnection:
        """The calling thread's keep-alive connection; a new one if the server dropped it."""
        connection: http.client.HTTPConnection | None = getattr(self._local, "connection", None)
        if connection is not None and _dropped(connection):
            connection.close()
            connection = None
        if connection is None:
            host, port = self._address
            connect_timeout, read_timeout = self._timeouts
            if self._tls is None:
                connection = _Connection(host, port, timeout=connect_timeout)
            else:
                connection = _TlsConnection(host, port, timeout=connect_timeout, context=self._tls)
            connection.read_timeout = read_timeout
            self._local.connection = connection
        return connection


def _dropped(connection: http.client.HTTPConnection) -> bool:
    """Whether an idle keep-alive connection was closed by the server (or sent something
    unasked): its socket reads as ready. (What urllib3 checks before reusing a connection.)"""
    sock = connection.sock
    if sock is None:
        return False  # not connected yet: `request` connects it
    try:
        poller = select.poll()  # not select(): that fails on descriptors above 1023
        poller.register(sock, select.POLLIN)
        return bool(poller.poll(0))
    except (OSError, ValueError):
        return True


class _Connection(http.client.HTTPConnection):
    """A connection with a connect timeout (`timeout`) and a read timeout of its own."""

    read_timeout: float | None = None

    def connect(self) -> None:
        super().connect()  # in `_TlsConnection`, HTTPSConnection's: the socket is TLS by now
        self.sock.settimeout(self.read_timeout)


class _TlsConnection(_Connection, http.client.HTTPSConnection):
    """`_Connection` over TLS (certificates checked by the default context)."""


@dataclass(frozen=True, slots=True)
class _Outcome:
    """One attempt: done; the batch's marker found; rows owned elsewhere; or why to retry."""

    done: bool = False
    marker: dict[str, Any] | None = None
    owned: list[int] | None = None
    why: str = ""
