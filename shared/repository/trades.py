"""Trades: one TransactWriteItems that fills the orders and records the trade, or nothing."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from shared.book import Fill, RestingOrder
from shared.clock import format_timestamp
from shared.codecs import Item, number, order_key, string, trade_from_item, trade_key, trade_to_item
from shared.errors import TradeNotFound
from shared.models import Trade
from shared.repository._translate import error_code, store_errors
from shared.repository.books import resting_order

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

MAX_TRANSACTION_ACTIONS = 100


@dataclass
class TradeConflict(Exception):
    """The transaction was cancelled by a concurrent writer; nothing was written.

    `observed` holds the current state of orders whose version check failed (None = gone), so
    the next plan does not trip over the same stale index entries again.
    """

    observed: dict[int, RestingOrder | None] = field(default_factory=dict)
    extra_action_failed: bool = False

    def __str__(self) -> str:
        return f"trade transaction cancelled by a concurrent write (stale: {sorted(self.observed)})"


class TradeRepository:
    """Writes trades atomically and reads trade records."""

    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def execute(
        self,
        trade: Trade,
        fills: Sequence[Fill],
        *,
        extra_action: TransactWriteItemTypeDef | None = None,
    ) -> None:
        """Apply `fills` and put the trade record (and `extra_action`) in one transaction.

        Each fill updates (partly filled) or deletes (exhausted) its order, conditioned on the
        version the plan read. Raises `TradeConflict` if any condition or a concurrent
        transaction cancels it.
        """
        actions = [self._fill_action(fill, trade) for fill in fills]
        actions.append(
            {
                "Put": {
                    "TableName": self._table,
                    "Item": trade_to_item(trade),
                    "ConditionExpression": "attribute_not_exists(PK)",
                }
            }
        )
        if extra_action is not None:
            actions.append(extra_action)
        if len(actions) > MAX_TRANSACTION_ACTIONS:
            raise ValueError(f"{len(actions)} actions exceed one transaction's limit")
        with store_errors():
            try:
                self._client.transact_write_items(TransactItems=actions)
            except ClientError as error:
                if error_code(error) != "TransactionCanceledException":
                    raise
                raise self._conflict(error, fills, has_extra=extra_action is not None) from error

    def get(self, trade_id: str) -> Trade:
        """The recorded trade. Raises `TradeNotFound`."""
        with store_errors():
            response = self._client.get_item(TableName=self._table, Key=trade_key(trade_id))
        item = response.get("Item")
        if item is None:
            raise TradeNotFound(trade_id)
        return trade_from_item(item)

    def _fill_action(self, fill: Fill, trade: Trade) -> TransactWriteItemTypeDef:
        guard: Any = {
            "TableName": self._table,
            "Key": order_key(fill.order_id),
            "ConditionExpression": "#version = :read",
            "ExpressionAttributeNames": {"#version": "version"},
            "ExpressionAttributeValues": {":read": number(fill.version)},
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        if fill.exhausts_order:
            return {"Delete": guard}
        guard["UpdateExpression"] = "SET #amount = :remaining, #version = :next, #updated = :at"
        guard["ExpressionAttributeNames"] |= {"#amount": "amount", "#updated": "updatedAt"}
        guard["ExpressionAttributeValues"] |= {
            ":remaining": number(fill.remaining),
            ":next": number(fill.version + 1),
            ":at": string(format_timestamp(trade.timestamp)),
        }
        return {"Update": guard}

    def _conflict(self, error: ClientError, fills: Sequence[Fill], *, has_extra: bool) -> Exception:
        reasons: list[Any] = list(error.response.get("CancellationReasons", []))
        conflict = TradeConflict(
            extra_action_failed=has_extra
            and len(reasons) == len(fills) + 2
            and reasons[-1].get("Code") == "ConditionalCheckFailed"
        )
        for fill, reason in zip(fills, reasons, strict=False):
            if reason.get("Code") != "ConditionalCheckFailed":
                continue
            # With ReturnValuesOnConditionCheckFailure=ALL_OLD, DynamoDB (and DynamoDB Local and
            # moto, pinned by a test) return the current item whenever it exists: no item means
            # the order is gone.
            item: Item | None = reason.get("Item")
            conflict.observed[fill.order_id] = resting_order(item) if item else None
        return conflict
