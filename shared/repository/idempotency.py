"""Idempotency records: `IDEMP#<key>` items that remember a trade request and its outcome.

Timeline of one key (powertools-style):

1. `claim` puts `IN_PROGRESS` with our random token and a short lease, only if no live record
   exists (none, expired by TTL time, or an `IN_PROGRESS` whose lease ran out because its owner
   died). Otherwise the existing record decides: a different request fingerprint → mismatch (422);
   `COMPLETED` → its stored outcome is returned unchanged; `IN_PROGRESS` → in flight (409).
2. The trade transaction itself writes `COMPLETED` + the outcome, conditioned on our token, so the
   outcome and the fills commit or fail together. An unsuccessful trade stores its outcome alone.
3. On an unexpected failure the owner deletes its claim so the client may retry at once.

Records carry `expiresAt` (the table's TTL attribute) `retention` after the claim; DynamoDB's TTL
deletion is lazy, so records past `expiresAt` are treated as absent by the condition itself.
We do not rely on ClientRequestToken: it lasts 10 minutes and moto ignores it.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from shared import keys
from shared.codecs import Item, number, outcome_from_attributes, outcome_to_attributes, string
from shared.errors import IdempotencyInFlight, IdempotencyMismatch
from shared.models import Side, TradeOutcome
from shared.repository._translate import error_code, store_errors

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

IN_PROGRESS = "IN_PROGRESS"
COMPLETED = "COMPLETED"
DEFAULT_RETENTION = timedelta(hours=24)
DEFAULT_LEASE = timedelta(seconds=60)


def trade_fingerprint(symbol: str, side: Side, amount: int) -> str:
    """Identifies a trade request by its normalized values (`jpm`/`Buy` ≡ `JPM`/0)."""
    return hashlib.sha256(f"trade|{symbol}|{int(side)}|{amount}".encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Claim:
    """Our ownership of an idempotency key while the request runs."""

    key: str
    token: str
    fingerprint: str


def _key(key: str) -> Item:
    return {"PK": string(keys.idempotency_pk(key)), "SK": string(keys.IDEMPOTENCY_ENTITY)}


class IdempotencyStore:
    """Claims, completes and releases idempotency keys."""

    def __init__(
        self,
        client: DynamoDBClient,
        table_name: str,
        *,
        retention: timedelta = DEFAULT_RETENTION,
        lease: timedelta = DEFAULT_LEASE,
        ttl_attribute: str = "expiresAt",
    ) -> None:
        self._client = client
        self._table = table_name
        self._retention = retention
        self._lease = lease
        self._ttl = ttl_attribute

    def claim(self, key: str, fingerprint: str, now: datetime) -> Claim | TradeOutcome:
        """Own `key`, or get the outcome a completed earlier request stored under it.

        Raises `IdempotencyMismatch` (other body) or `IdempotencyInFlight` (still running).
        """
        claim = Claim(key=key, token=uuid.uuid4().hex, fingerprint=fingerprint)
        epoch = int(now.timestamp())
        item: Item = {
            **_key(key),
            "entity": string(keys.IDEMPOTENCY_ENTITY),
            "version": number(1),
            "status": string(IN_PROGRESS),
            "fingerprint": string(fingerprint),
            "token": string(claim.token),
            "leaseUntil": number(epoch + int(self._lease.total_seconds())),
            self._ttl: number(epoch + int(self._retention.total_seconds())),
        }
        with store_errors():
            try:
                self._client.put_item(
                    TableName=self._table,
                    Item=item,
                    # Free when: never used; past retention (TTL deletes lazily); or claimed by a
                    # request whose lease ran out (its process died before finishing).
                    ConditionExpression=(
                        "attribute_not_exists(PK) OR #expires < :now"
                        " OR (#status = :in_progress AND #lease < :now)"
                    ),
                    ExpressionAttributeNames={
                        "#expires": self._ttl,
                        "#status": "status",
                        "#lease": "leaseUntil",
                    },
                    ExpressionAttributeValues={
                        ":now": number(epoch),
                        ":in_progress": string(IN_PROGRESS),
                    },
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
                return claim
            except ClientError as error:
                if error_code(error) != "ConditionalCheckFailedException":
                    raise
                existing: Item | None = error.response.get("Item")  # type: ignore[assignment]
        if existing is None:
            existing = self._read(key)
        if existing is None:  # vanished between our write and read: try once more
            return self.claim(key, fingerprint, now)
        if existing["fingerprint"]["S"] != fingerprint:
            raise IdempotencyMismatch(key)
        if existing["status"]["S"] == COMPLETED:
            return outcome_from_attributes(existing)
        raise IdempotencyInFlight(key)

    def completion(self, claim: Claim, outcome: TradeOutcome) -> TransactWriteItemTypeDef:
        """The transaction action that stores `outcome` under our claim."""
        return {"Put": self._completed_put(claim, outcome)}

    def complete(self, claim: Claim, outcome: TradeOutcome) -> None:
        """Store `outcome` under our claim (for outcomes that need no transaction)."""
        with store_errors():
            try:
                self._client.put_item(**self._completed_put(claim, outcome))
            except ClientError as error:
                if error_code(error) == "ConditionalCheckFailedException":
                    raise IdempotencyInFlight(claim.key) from error
                raise

    def release(self, claim: Claim) -> None:
        """Give the key up after a failure, if we still own it."""
        with store_errors():
            try:
                self._client.delete_item(
                    TableName=self._table,
                    Key=_key(claim.key),
                    ConditionExpression="#token = :token",
                    ExpressionAttributeNames={"#token": "token"},
                    ExpressionAttributeValues={":token": string(claim.token)},
                )
            except ClientError as error:
                if error_code(error) != "ConditionalCheckFailedException":
                    raise

    def _completed_put(self, claim: Claim, outcome: TradeOutcome) -> Any:
        epoch = int(outcome.timestamp.timestamp())
        return {
            "TableName": self._table,
            "Item": {
                **_key(claim.key),
                "entity": string(keys.IDEMPOTENCY_ENTITY),
                "version": number(2),
                "status": string(COMPLETED),
                "fingerprint": string(claim.fingerprint),
                "token": string(claim.token),
                self._ttl: number(epoch + int(self._retention.total_seconds())),
                **outcome_to_attributes(outcome),
            },
            "ConditionExpression": "#token = :token",
            "ExpressionAttributeNames": {"#token": "token"},
            "ExpressionAttributeValues": {":token": string(claim.token)},
        }

    def _read(self, key: str) -> Item | None:
        with store_errors():
            response = self._client.get_item(
                TableName=self._table, Key=_key(key), ConsistentRead=True
            )
        return response.get("Item")
