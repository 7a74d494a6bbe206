"""A lean BatchWriteItem sender for the loader: pre-encoded JSON in, signed HTTP out.

boto3 spends ~1-2 ms of CPU per 25-item BatchWriteItem walking its shape model to serialize the
items, which caps one process (one GIL) at a few thousand rows/s. The loader instead encodes each
item once as JSON text (`codecs.order_item_json`), joins 25 of them into the request body, signs it
with botocore's SigV4 signer and sends it over a pooled urllib3 connection. Credentials come from
the same boto3 session chain (task role on AWS), refreshed as they rotate.

Every call retries, with exponential backoff and full jitter, until a deadline: `UnprocessedItems`
(re-sent until none remain), throttling, 5xx and connection errors. A call carries at most 25 items
with distinct keys (the caller guarantees it; DynamoDB rejects duplicates in one call).
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Sequence
from typing import Any

import urllib3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from shared.errors import StoreUnavailable
from shared.repository.clients import dynamodb_endpoint, make_session
from shared.settings import AwsSettings

MAX_BATCH_ITEMS = 25
_RETRYABLE_TYPES = (
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
    "TransactionInProgressException",
)


class BatchWriteRejected(Exception):
    """DynamoDB refused a batch for a reason retrying cannot fix (a bug in what we sent)."""


class BatchWriter:
    """Sends BatchWriteItem requests of pre-encoded put items. Thread-safe."""

    def __init__(
        self,
        settings: AwsSettings,
        *,
        pool_size: int = 32,
        deadline_seconds: float = 120.0,
        base_delay: float = 0.02,
        max_delay: float = 2.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._table_json = json.dumps(settings.table_name)
        self._url = dynamodb_endpoint(settings)
        self._region = settings.region
        credentials = make_session(settings).get_credentials()
        if credentials is None:
            raise StoreUnavailable("no AWS credentials found for DynamoDB")
        self._credentials: Credentials = credentials
        self._http = urllib3.PoolManager(
            maxsize=pool_size,
            block=True,
            timeout=urllib3.Timeout(
                connect=settings.connect_timeout_seconds, read=settings.read_timeout_seconds
            ),
            retries=False,
        )
        self._deadline = deadline_seconds
        self._base_delay = base_delay
        self._max_delay = max_delay
        self._sleep = sleep
        self.requests_sent = 0
        self.retries = 0

    def write(self, items_json: Sequence[str]) -> None:
        """Put every item, retrying what DynamoDB leaves unprocessed. Raises `StoreUnavailable`."""
        if not 0 < len(items_json) <= MAX_BATCH_ITEMS:
            raise ValueError(f"a batch holds 1-{MAX_BATCH_ITEMS} items, not {len(items_json)}")
        body = self._body(items_json)
        deadline = time.monotonic() + self._deadline
        attempt = 0
        while True:
            outcome = self._send(body)
            if outcome is None:
                return
            attempt += 1
            self.retries += 1
            pause = random.random() * min(
                self._max_delay, self._base_delay * 2.0 ** min(attempt, 32)
            )
            if time.monotonic() + pause > deadline:
                raise StoreUnavailable(f"BatchWriteItem kept failing: {outcome[1]}")
            self._sleep(pause)
            body = outcome[0] or body

    def _body(self, items_json: Sequence[str]) -> bytes:
        puts = ",".join(f'{{"PutRequest":{{"Item":{item}}}}}' for item in items_json)
        return f'{{"RequestItems":{{{self._table_json}:[{puts}]}}}}'.encode()

    def _send(self, body: bytes) -> tuple[bytes | None, str] | None:
        """None when done; else (the body to resend or None for the same, why)."""
        request = AWSRequest(
            method="POST",
            url=self._url,
            data=body,
            headers={
                "Content-Type": "application/x-amz-json-1.0",
                "X-Amz-Target": "DynamoDB_20120810.BatchWriteItem",
            },
        )
        # Frozen per request: a rotating task-role credential cannot change mid-signature.
        frozen = self._credentials.get_frozen_credentials()
        SigV4Auth(frozen, "dynamodb", self._region).add_auth(request)
        self.requests_sent += 1
        try:
            response = self._http.request(
                "POST", self._url, body=body, headers=dict(request.headers.items())
            )
        except urllib3.exceptions.HTTPError as error:
            return None, f"connection failed ({type(error).__name__})"
        try:
            payload: dict[str, Any] = json.loads(response.data or b"{}")
        except ValueError:
            payload = {}
        if response.status == 200:
            unprocessed = payload.get("UnprocessedItems") or {}
            if not unprocessed:
                return None
            return json.dumps({"RequestItems": unprocessed}).encode(), "unprocessed items"
        kind = str(payload.get("__type", "")).rsplit("#", 1)[-1]
        if response.status >= 500 or kind in _RETRYABLE_TYPES:
            return None, f"HTTP {response.status} {kind}"
        raise BatchWriteRejected(f"HTTP {response.status} {kind}: {payload.get('message', '')}")
