"""Idempotency records: `IDEMP#<account>#<key>` items that remember a trade request and its outcome.

Timeline of one key (powertools-style):

1. `claim` puts `IN_PROGRESS` with our random token and a short lease, only if no live record
   exists (none, expired by TTL time, or an `IN_PROGRESS` whose lease ran out because its owner
   died or gave up). The lease outlasts the longest a request may hold it (the API sets it from
   its deadlines); taking over an expired claim is safe even if its owner's transaction is still
   on its way, because that transaction's completion is conditioned on the owner's token.
   Otherwise the existing record decides: a different request fingerprint → mismatch (422);
   `COMPLETED` → its stored outcome is returned unchanged; `IN_PROGRESS` → in flight (409).
   A claim whose response was lost is recognised by our token in the returned item.
2. The trade transaction itself writes `COMPLETED` + the outcome, conditioned on our token
   (`completion_action`, composed into the transaction by `TradeRepository`), so the outcome and
   the fills commit or fail together.
3. On a failure that certainly wrote nothing, the owner deletes its claim so the client may retry
   at once — only while it is still `IN_PROGRESS`: a `COMPLETED` record (a commit whose response
   was lost) is never released, so the retry returns that outcome instead of trading again.

Keys are per account: two accounts may use the same key for different trades. Records carry the
table's TTL attribute `retention` after the claim; DynamoDB's TTL deletion is lazy, so records
past it are treated as absent by the condition itself. We do not rely on ClientRequestToken: it
lasts 10 minutes on AWS and the local engines ignore it.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from shared import keys
from shared.codecs import (
    ENTITY,
    STATUS,
    TOKEN,
    VERSION,
    Item,
    number,
    outcome_from_attributes,
    outcome_to_attributes,
    primary_key,
    string,
    ttl,
)
from shared.errors import IdempotencyInFlight, IdempotencyMismatch, StoreUnavailable
from shared.models import Side, TradeOutcome
from shared.repository._translate import error_code, store_errors
from shared.schema import PARTITION_KEY, SORT_KEY, TTL_ATTRIBUTE

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

IN_PROGRESS = "IN_PROGRESS"
COMPLETED = "COMPLETED"
DEFAULT_RETENTION = timedelta(hours=24)
DEFAULT_LEASE = timedelta(seconds=60)
# Attributes of idempotency records only (the common ones come from `shared.codecs`).
FINGERPRINT = "fingerprint"
LEASE_UNTIL = "leaseUntil"


def trade_fingerprint(symbol: str, side: Side, amount: int) -> str:
    """Identifies a trade request by its normalized values (`jpm`/`Buy` ≡ `JPM`/0)."""
    return hashlib.sha256(f"trade|{symbol}|{int(side)}|{amount}".encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Claim:
    """Our ownership of an account's idempotency key while the request runs."""

    account: str
    key: str
    token: str
    fingerprint: str


def _key(account: str, key: str) -> Item:
    return primary_key(keys.idempotency_pk(account, key), keys.IDEMPOTENCY_ENTITY)


def completion_action(
    table: str, claim: Claim, outcome: TradeOutcome, retention: timedelta
) -> dict[str, Any]:
    """The transaction `Put` that stores `outcome` under our claim (if we still hold it)."""
    epoch = int(outcome.timestamp.timestamp())
    return {
        "Put": {
            "TableName": table,
            "Item": {
                **_key(claim.account, claim.key),
                ENTITY: string(keys.IDEMPOTENCY_ENTITY),
                VERSION: number(2),
                STATUS: string(COMPLETED),
                FINGERPRINT: string(claim.fingerprint),
                TOKEN: string(claim.token),
                **ttl(epoch + int(retention.total_seconds())),
                **outcome_to_attributes(outcome),
            },
            "ConditionExpression": "#token = :token",
            "ExpressionAttributeNames": {"#token": TOKEN},
            "ExpressionAttributeValues": {":token": string(claim.token)},
        }
    }


class IdempotencyStore:
    """Claims and releases idempotency keys; completions ride in the trade transaction."""

    def __init__(
        self,
        client: DynamoDBClient,
        table_name: str,
        *,
        retention: timedelta = DEFAULT_RETENTION,
        lease: timedelta = DEFAULT_LEASE,
    ) -> None:
        self._client = client
        self._table = table_name
        self.retention = retention
        self._lease = lease

    def claim(
        self, account: str, key: str, fingerprint: str, now: datetime
    ) -> Claim | TradeOutcome:
        """Own `account`'s `key`, or get the outcome a completed earlier request stored under it.

        Raises `IdempotencyMismatch` (other body) or `IdempotencyInFlight` (still running).
        """
        claim = Claim(account=account, key=key, token=uuid.uuid4().hex, fingerprint=fingerprint)
        epoch = int(now.timestamp())
        item: Item = {
            **_key(account, key),
            ENTITY: string(keys.IDEMPOTENCY_ENTITY),
            VERSION: number(1),
            STATUS: string(IN_PROGRESS),
            FINGERPRINT: string(fingerprint),
            TOKEN: string(claim.token),
            LEASE_UNTIL: number(epoch + int(self._lease.total_seconds())),
            **ttl(epoch + int(self.retention.total_seconds())),
        }
        for _ in range(3):  # a record that vanishes between our write and our read: try again
            try:
                existing = self._put_claim(item, epoch)
            except StoreUnavailable:
                # Sent, outcome unknown: our token in the record means the claim is ours.
                existing = self._read(account, key)
                if existing is None or existing[TOKEN]["S"] != claim.token:
                    raise
            if existing == {}:
                continue
            if existing is None or existing[TOKEN]["S"] == claim.token:
                return claim  # free, or our own earlier attempt took it
            if existing[FINGERPRINT]["S"] != fingerprint:
                raise IdempotencyMismatch(key)
            if existing[STATUS]["S"] == COMPLETED:
                return outcome_from_attributes(existing)
            raise IdempotencyInFlight(key)
        raise IdempotencyInFlight(key)

    def release(self, claim: Claim) -> None:
        """Give the key up after a failure that wrote nothing, if it is still our claim."""
        with store_errors():
            try:
                self._client.delete_item(
                    TableName=self._table,
                    Key=_key(claim.account, claim.key),
                    ConditionExpression="#token = :token AND #status = :in_progress",
                    ExpressionAttributeNames={"#token": TOKEN, "#status": STATUS},
                    ExpressionAttributeValues={
                        ":token": string(claim.token),
                        ":in_progress": string(IN_PROGRESS),
                    },
                )
            except ClientError as error:
                if error_code(error) != "ConditionalCheckFailedException":
                    raise

    def _read(self, account: str, key: str) -> Item | None:
        with store_errors():
            response = self._client.get_item(
                TableName=self._table, Key=_key(account, key), ConsistentRead=True
            )
        found: Item | None = response.get("Item")
        return found

    def _put_claim(self, item: Item, epoch: int) -> Item | None:
        """Put the claim if the key is free (None); else the record standing in the way, or `{}`
        when it vanished before we could read it."""
        with store_errors():
            try:
                self._client.put_item(
                    TableName=self._table,
                    Item=item,
                    # Free when: never used; past retention (TTL deletes lazily); or claimed by a
                    # request whose lease ran out (its process died before finishing).
                    ConditionExpression=(
                        f"attribute_not_exists({PARTITION_KEY}) OR #expires < :now"
                        " OR (#status = :in_progress AND #lease < :now)"
                    ),
                    ExpressionAttributeNames={
                        "#expires": TTL_ATTRIBUTE,
                        "#status": STATUS,
                        "#lease": LEASE_UNTIL,
                    },
                    ExpressionAttributeValues={
                        ":now": number(epoch),
                        ":in_progress": string(IN_PROGRESS),
                    },
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
                return None
            except ClientError as error:
                if error_code(error) != "ConditionalCheckFailedException":
                    raise
                existing: Item | None = error.response.get("Item")  # type: ignore[assignment]
            if existing is not None:
                return existing
            response = self._client.get_item(
                TableName=self._table,
                Key={PARTITION_KEY: item[PARTITION_KEY], SORT_KEY: item[SORT_KEY]},
                ConsistentRead=True,
            )
        found: Item | None = response.get("Item")
        return found if found is not None else {}
