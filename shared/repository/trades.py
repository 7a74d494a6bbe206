"""Trades: one TransactWriteItems settles a group of trades on one book, or nothing.

`settle` composes the whole transaction itself: for every order the group fills, one action
(an Update to what is left, or, at 0, to a gone order off the book: see `orders.leave_book`)
guarded by the token and version the plan read;
for every executed trade, the Put of its record, guarded by `attribute_not_exists`; for every
trade made with an `Idempotency-Key`, the Put of its outcome under the claim, guarded by the claim
token. At most 100 actions.

The trade record is what makes a second execution impossible by construction: a trade keeps its
id across every re-plan, so if an earlier attempt committed (and its response was lost), the next
attempt's Put of the same record fails its condition and the transaction is cancelled. The
cancellation reasons (one per action, in order) then tell `GroupCancelled` which records exist
already — those trades are done — which orders were stale (with their current state, from
`ReturnValuesOnConditionCheckFailure=ALL_OLD`), and which claims are no longer ours.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from shared.book import Fill, RestingOrder
from shared.clock import format_timestamp
from shared.codecs import (
    AMOUNT,
    TOKEN,
    UPDATED_AT,
    VERSION,
    Item,
    gone_order,
    number,
    order_key,
    string,
    trade_from_item,
    trade_key,
    trade_to_item,
)
from shared.errors import TradeNotFound
from shared.models import Trade, TradeOutcome
from shared.repository._translate import error_code, store_errors
from shared.repository.books import resting_order
from shared.repository.idempotency import DEFAULT_RETENTION, Claim, completion_action
from shared.repository.orders import leave_book
from shared.schema import PARTITION_KEY

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

MAX_TRANSACTION_ACTIONS = 100


@dataclass(frozen=True, slots=True)
class PlannedTrade:
    """A trade to execute: its record, the fills it takes (in walk order) and its claim."""

    trade: Trade
    fills: tuple[Fill, ...]
    claim: Claim | None = None


@dataclass(frozen=True, slots=True)
class RefusedTrade:
    """A trade the book could not fill, whose outcome must be remembered under its claim."""

    trade_id: str
    claim: Claim
    outcome: TradeOutcome


@dataclass
class GroupCancelled(Exception):
    """The transaction was cancelled; nothing of it was written.

    `observed`: current state of orders whose guard failed (None = gone). `recorded`: ids of
    trades whose record exists already (an earlier attempt committed them). `lost_claims`: ids
    of trades whose claim is no longer ours. `contended`: a concurrent transaction or throttling
    cancelled it, which a plain retry may cure.
    """

    observed: dict[int, RestingOrder | None] = field(default_factory=dict)
    recorded: set[str] = field(default_factory=set)
    lost_claims: set[str] = field(default_factory=set)
    contended: bool = False

    def __str__(self) -> str:
        return (
            f"trade transaction cancelled (stale orders {sorted(self.observed)}, "
            f"recorded {sorted(self.recorded)}, lost claims {sorted(self.lost_claims)}, "
            f"contended {self.contended})"
        )


def actions_needed(order_ids: Iterable[int], trades: int, claims: int) -> int:
    """Transaction actions for a group touching `order_ids` with `trades` and `claims`."""
    return len(set(order_ids)) + trades + claims


class TradeRepository:
    """Settles groups of trades atomically and reads trade records."""

    def __init__(
        self,
        client: DynamoDBClient,
        table_name: str,
        *,
        idempotency_retention: timedelta = DEFAULT_RETENTION,
    ) -> None:
        self._client = client
        self._table = table_name
        self._retention = idempotency_retention

    def settle(
        self, executed: Sequence[PlannedTrade], refused: Sequence[RefusedTrade] = ()
    ) -> None:
        """Apply every executed trade's fills, record it, and store every claimed outcome.

        Raises `GroupCancelled` (nothing written), `StoreConflict`/`StoreThrottled`/
        `StoreUnavailable` from the store.
        """
        actions: list[Any] = []
        roles: list[tuple[str, int | str]] = []
        for order_id, fills, at in _fills_by_order(executed):
            actions.append(self._fill_action(order_id, fills, at))
            roles.append(("fill", order_id))
        for planned in executed:
            actions.append(self._record_action(planned.trade))
            roles.append(("record", planned.trade.id))
        for planned in executed:
            if planned.claim is not None:
                outcome = TradeOutcome.executed(planned.trade)
                actions.append(
                    completion_action(self._table, planned.claim, outcome, self._retention)
                )
                roles.append(("claim", planned.trade.id))
        for refusal in refused:
            actions.append(
                completion_action(self._table, refusal.claim, refusal.outcome, self._retention)
            )
            roles.append(("claim", refusal.trade_id))
        if not actions:
            return
        if len(actions) > MAX_TRANSACTION_ACTIONS:
            raise ValueError(f"{len(actions)} actions exceed one transaction's limit")
        with store_errors():
            try:
                self._client.transact_write_items(TransactItems=actions)
            except ClientError as error:
                if error_code(error) != "TransactionCanceledException":
                    raise
                raise _cancellation(error, roles) from error

    def get(self, trade_id: str) -> Trade:
        """The recorded trade. Raises `TradeNotFound`."""
        found = self.find([trade_id])
        if trade_id not in found:
            raise TradeNotFound(trade_id)
        return found[trade_id]

    def find(self, trade_ids: Sequence[str]) -> dict[str, Trade]:
        """The records that exist among `trade_ids` (strongly consistent reads)."""
        found: dict[str, Trade] = {}
        for trade_id in trade_ids:
            with store_errors():
                response = self._client.get_item(
                    TableName=self._table, Key=trade_key(trade_id), ConsistentRead=True
                )
            item = response.get("Item")
            if item is not None:
                found[trade_id] = trade_from_item(item)
        return found

    def _fill_action(self, order_id: int, fills: list[Fill], at: datetime) -> Any:
        """The order's one update: what is left, or (used up) a gone order off the book."""
        first, last = fills[0], fills[-1]
        if last.exhausts_order:
            update = leave_book(version=first.version, amount=0, at=at)
        else:
            update = {
                "UpdateExpression": "SET #amount = :remaining, #version = :next, #updated = :at",
                "ExpressionAttributeNames": {
                    "#amount": AMOUNT,
                    "#version": VERSION,
                    "#updated": UPDATED_AT,
                },
                "ExpressionAttributeValues": {
                    ":remaining": number(last.remaining),
                    ":next": number(first.version + 1),
                    ":at": string(format_timestamp(at)),
                },
            }
        update["ExpressionAttributeNames"]["#token"] = TOKEN
        update["ExpressionAttributeValues"] |= {
            ":read": number(first.version),
            ":token": string(first.token),
        }
        return {
            "Update": {
                "TableName": self._table,
                "Key": order_key(order_id),
                # A gone order keeps token and version+1, so this also refuses one that left.
                "ConditionExpression": "#version = :read AND #token = :token",
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                **update,
            }
        }

    def _record_action(self, trade: Trade) -> Any:
        return {
            "Put": {
                "TableName": self._table,
                "Item": trade_to_item(trade),
                "ConditionExpression": f"attribute_not_exists({PARTITION_KEY})",
            }
        }


def _fills_by_order(
    executed: Sequence[PlannedTrade],
) -> list[tuple[int, list[Fill], datetime]]:
    """Each order's fills across the group, in the order first touched, with the last time."""
    fills: dict[int, list[Fill]] = {}
    last_at: dict[int, datetime] = {}
    for planned in executed:
        for fill in planned.fills:
            fills.setdefault(fill.order_id, []).append(fill)
            last_at[fill.order_id] = planned.trade.timestamp
    return [(order_id, order_fills, last_at[order_id]) for order_id, order_fills in fills.items()]


def _cancellation(error: ClientError, roles: list[tuple[str, int | str]]) -> GroupCancelled:
    reasons: list[Any] = list(error.response.get("CancellationReasons", []))
    cancelled = GroupCancelled()
    for (role, subject), reason in zip(roles, reasons, strict=False):
        code = str(reason.get("Code", "None"))
        if code in ("TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"):
            cancelled.contended = True
        if code != "ConditionalCheckFailed":
            continue
        if role == "fill":
            # With ReturnValuesOnConditionCheckFailure=ALL_OLD, DynamoDB (and DynamoDB Local and
            # moto, pinned by a test) return the current item whenever it exists: no item means
            # the order is gone.
            item: Item | None = reason.get("Item")
            on_book = item is not None and gone_order(item) is None
            cancelled.observed[int(subject)] = resting_order(item) if item and on_book else None
        elif role == "record":
            cancelled.recorded.add(str(subject))
        else:
            cancelled.lost_claims.add(str(subject))
    if len(reasons) < len(roles) and not (
        cancelled.observed or cancelled.recorded or cancelled.lost_claims
    ):
        cancelled.contended = True  # an engine that names no reason: retrying is all we can do
    return cancelled
