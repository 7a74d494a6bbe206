"""Orders: conditional writes that never overwrite, never resurrect, and know their own work.

Every write is stamped with a fresh random token (`Order.token`), and every guard names both the
token and the version it read, so a stale read of an earlier incarnation of the id can never
pass. The token also resolves writes whose outcome is unknown: botocore retries a request after a
timeout or a 5xx even when the first attempt was applied, and the retry then fails its own
condition. Each method recognises that case instead of guessing:

* create — the condition failure returns the existing item (`ALL_OLD`); our token in it means
  the order is ours, created by the first attempt: 201, not 409;
* amend — the same, on the version guard: our token in the item means our amend landed;
* delete — the order is not removed but turned into a *gone* order stamped with our token
  (`deletedBy`); finding our token there means our delete happened: 200, not 404.

Orders that leave the book (deleted here, or used up by a trade) stay as gone orders for a day
(`leave_book`), keeping the token of their incarnation. That is what stops a create delivered
late — botocore retried it after a timeout and the retry succeeded, the order was then filled and
removed, and only now does the first attempt arrive — from bringing the order back: a create
succeeds only where no item is, or over a gone order of *another* incarnation.

When even the resolving read fails (the table unreachable until the deadline), the outcome stays
unknown and the caller gets `StoreUnavailable` (503): the client learns nothing false.
Contention (a `TransactionConflictException` from a trade filling the order, a version race)
is retried with backoff until the request's deadline (`RetryPolicy`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from shared import keys
from shared.clock import Clock, format_timestamp, utc_now
from shared.codecs import (
    AMOUNT,
    DELETED_BY,
    ENTITY,
    TOKEN,
    UPDATED_AT,
    VERSION,
    Item,
    gone_order,
    number,
    order_from_item,
    order_key,
    order_to_item,
    string,
)
from shared.errors import (
    NotOrderOwner,
    OrderAlreadyExists,
    OrderChanged,
    OrderNotFound,
    StoreBusy,
    StoreConflict,
    StoreUnavailable,
)
from shared.models import Order, OrderDraft, Precondition, new_write_token
from shared.repository._translate import error_code, returned_item, store_errors
from shared.retry import RetryPolicy
from shared.schema import INDEX_PARTITION_KEY, INDEX_SORT_KEY, PARTITION_KEY, TTL_ATTRIBUTE
from shared.sequence import SequenceGenerator

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

GONE_RETENTION = timedelta(days=1)
_UNCHANGED_SINCE_READ = "#version = :version AND #token = :token"
_GUARD_NAMES = {"#version": VERSION, "#token": TOKEN}
# Free for a create: no item, or a gone order of another incarnation (a late duplicate of *our*
# create finds our own token there and is refused).
_FREE_FOR_CREATE = (
    f"attribute_not_exists({PARTITION_KEY}) OR (#entity = :gone AND #token <> :token)"
)


def leave_book(
    *, version: int, amount: int, at: datetime, deleted_by: str | None = None
) -> dict[str, Any]:
    """UpdateItem parts that turn an order into a gone order (kept for `GONE_RETENTION`).

    It leaves every book (the GSI1 keys go), bumps the version, keeps its token and, for a
    DELETE, records the request's token.
    """
    expression = (
        "SET #entity = :gone, #amount = :amount, #version = :next, #updated = :at, #expires = :ttl"
    )
    names = {
        "#entity": ENTITY,
        "#amount": AMOUNT,
        "#version": VERSION,
        "#updated": UPDATED_AT,
        "#expires": TTL_ATTRIBUTE,
        "#book": INDEX_PARTITION_KEY,
        "#place": INDEX_SORT_KEY,
    }
    values: dict[str, Any] = {
        ":gone": string(keys.GONE_ENTITY),
        ":amount": number(amount),
        ":next": number(version + 1),
        ":at": string(format_timestamp(at)),
        ":ttl": number(int((at + GONE_RETENTION).timestamp())),
    }
    if deleted_by is not None:
        expression += ", #deleted_by = :deleted_by"
        names["#deleted_by"] = DELETED_BY
        values[":deleted_by"] = string(deleted_by)
    return {
        "UpdateExpression": expression + " REMOVE #book, #place",
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": values,
    }


def _guard_values(order: Order) -> dict[str, Any]:
    return {":version": number(order.version), ":token": string(order.token)}


class OrderRepository:
    """Reads and writes order items in the single table."""

    def __init__(
        self,
        client: DynamoDBClient,
        table_name: str,
        *,
        clock: Clock = utc_now,
        sequence: SequenceGenerator | None = None,
        retry: RetryPolicy | None = None,
        tokens: Callable[[], str] = new_write_token,
    ) -> None:
        self._client = client
        self._table = table_name
        self._clock = clock
        self._sequence = sequence or SequenceGenerator()
        self._retry = retry or RetryPolicy()
        self._tokens = tokens

    def get(self, order_id: int) -> Order:
        """The order with this id (strongly consistent read). Raises `OrderNotFound`."""
        order = self._find(order_id)
        if order is None:
            raise OrderNotFound(order_id)
        return order

    def create(self, draft: OrderDraft, *, account: str) -> Order:
        """Place a new order of `account` at the back of its price level.

        Raises `OrderAlreadyExists` (the existing order is untouched).
        """
        order = Order.place(
            draft,
            account=account,
            token=self._tokens(),
            sequence=self._sequence.next(),
            at=self._clock(),
        )
        clock = self._retry.start()
        while True:
            try:
                return self._put_new(order)
            except StoreConflict:
                if not clock.pause():
                    raise
            except StoreUnavailable:
                return _ours_or_unknown(order.token, self._find(draft.id))

    def amend(
        self,
        order_id: int,
        *,
        amount: int | None,
        price: Decimal | None,
        owner: str | None = None,
        precondition: Precondition | None = None,
    ) -> Order:
        """Change amount and/or price, applying the time-priority rule.

        `owner`: the account the order must belong to (None: any, for admins). Raises
        `OrderNotFound`, `NotOrderOwner`, `OrderChanged` (the precondition failed), `StoreBusy`.

        Optimistic concurrency: read the order, compute the amended item (a new price also moves
        it in GSI1), and write it only if token and version are still what was read. A
        concurrent writer (a trade filling it, another amend) makes the write fail; we re-read
        and re-apply, so the amend lands on the latest state, with backoff until the deadline.
        A concurrent delete turns the re-read into 404 instead of resurrecting the order.
        """
        token = self._tokens()
        clock = self._retry.start()
        while True:
            current = self._find(order_id)
            if current is not None and current.token == token:
                return current  # an earlier attempt of ours landed; its response was lost
            current = self._checked(order_id, current, owner, precondition)
            amended = current.amended(
                amount=amount,
                price=price,
                next_sequence=self._sequence.next(),
                at=self._clock(),
                token=token,
            )
            if amended is current:
                return current
            try:
                if self._put_if_unchanged(amended, current):
                    return amended
            except StoreConflict:
                pass
            except StoreUnavailable:
                return _ours_or_unknown(token, self._find(order_id))
            if not clock.pause():
                raise StoreBusy(f"order {order_id} kept changing while it was being amended")

    def delete(
        self,
        order_id: int,
        *,
        owner: str | None = None,
        precondition: Precondition | None = None,
    ) -> Order:
        """Remove the order and return it as it was.

        Raises `OrderNotFound`, `NotOrderOwner`, `OrderChanged` (the precondition failed),
        `StoreBusy`. One transaction deletes the order (if token and version are still what was
        read) and puts a tombstone keyed by this request's token, which expires after a day.
        """
        token = self._tokens()
        clock = self._retry.start()
        attempted = False
        while True:
            current = self._find(order_id)
            if current is None and attempted:
                deleted = self._deleted_by(order_id, token)
                if deleted is not None:
                    return deleted
            current = self._checked(order_id, current, owner, precondition)
            attempted = True
            try:
                if self._delete_if_unchanged(current, token):
                    return current
            except StoreConflict:
                pass
            except StoreUnavailable:
                deleted = self._deleted_by(order_id, token)
                if deleted is None:
                    raise
                return deleted
            if not clock.pause():
                raise StoreBusy(f"order {order_id} kept changing while it was being deleted")

    def _put_new(self, order: Order) -> Order:
        with store_errors():
            try:
                self._client.put_item(
                    TableName=self._table,
                    Item=order_to_item(order),
                    ConditionExpression=_FREE_FOR_CREATE,
                    ExpressionAttributeNames={"#entity": ENTITY, "#token": TOKEN},
                    ExpressionAttributeValues={
                        ":gone": string(keys.GONE_ENTITY),
                        ":token": string(order.token),
                    },
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
            except ClientError as error:
                if error_code(error) != "ConditionalCheckFailedException":
                    raise
                existing = returned_item(error)
                if existing is not None and existing[TOKEN]["S"] == order.token:
                    return order  # our first attempt created it (it may have left the book since)
                raise OrderAlreadyExists(order.id) from error
        return order

    def _put_if_unchanged(self, amended: Order, current: Order) -> bool:
        """Write `amended` if the item is still `current`; False when another writer won."""
        with store_errors():
            try:
                self._client.put_item(
                    TableName=self._table,
                    Item=order_to_item(amended),
                    ConditionExpression=_UNCHANGED_SINCE_READ,
                    ExpressionAttributeNames=_GUARD_NAMES,
                    ExpressionAttributeValues=_guard_values(current),
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
            except ClientError as error:
                if error_code(error) != "ConditionalCheckFailedException":
                    raise
                existing = returned_item(error)
                return existing is not None and existing[TOKEN]["S"] == amended.token
        return True

    def _delete_if_unchanged(self, current: Order, token: str) -> bool:
        """Turn `current` into a gone order stamped with our token; False when another writer
        won."""
        with store_errors():
            try:
                self._client.update_item(
                    TableName=self._table,
                    Key=order_key(current.id),
                    ConditionExpression=f"#entity = :order AND {_UNCHANGED_SINCE_READ}",
                    **_merged(
                        leave_book(
                            version=current.version,
                            amount=current.amount,
                            at=self._clock(),
                            deleted_by=token,
                        ),
                        names={**_GUARD_NAMES, "#entity": ENTITY},
                        values={**_guard_values(current), ":order": string(keys.ORDER_ENTITY)},
                    ),
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
            except ClientError as error:
                if error_code(error) != "ConditionalCheckFailedException":
                    raise
                existing = returned_item(error)
                return existing is not None and existing.get(DELETED_BY, {}).get("S") == token
        return True

    @staticmethod
    def _checked(
        order_id: int,
        current: Order | None,
        owner: str | None,
        precondition: Precondition | None,
    ) -> Order:
        """`current`, if it exists, matches the precondition and belongs to `owner`."""
        if precondition is not None and not precondition.holds_for(current):
            raise OrderChanged(order_id, current.revision if current else None)
        if current is None:
            raise OrderNotFound(order_id)
        if owner is not None and current.account != owner:
            raise NotOrderOwner(order_id)
        return current

    def _find(self, order_id: int) -> Order | None:
        item = self._read(order_id)
        if item is None or gone_order(item) is not None:
            return None
        return order_from_item(item)

    def _deleted_by(self, order_id: int, token: str) -> Order | None:
        """The order as DELETE request `token` removed it, if that request's delete happened."""
        item = self._read(order_id)
        gone = None if item is None else gone_order(item)
        if gone is None or item is None or item.get(DELETED_BY, {}).get("S") != token:
            return None
        return replace(gone, version=gone.version - 1)  # as it was before it left the book

    def _read(self, order_id: int) -> Item | None:
        with store_errors():
            response = self._client.get_item(
                TableName=self._table, Key=order_key(order_id), ConsistentRead=True
            )
        item: Item | None = response.get("Item")
        return item


def _ours_or_unknown(token: str, found: Order | None) -> Order:
    """After a write of unknown outcome: the item if it carries our token, else still unknown."""
    if found is not None and found.token == token:
        return found
    raise StoreUnavailable("the write's outcome could not be confirmed; read before retrying")


def _cancellation_codes(error: ClientError, actions: int) -> list[str]:
    """The cancellation reason code of each action, "None" where it did not fail."""
    reasons: list[Any] = list(error.response.get("CancellationReasons", []))
    codes = [str(reason.get("Code", "None")) for reason in reasons]
    return (codes + ["None"] * actions)[:actions]


def _merged(parts: dict[str, Any], *, names: dict[str, str], values: dict[str, Any]) -> Any:
    """`parts` (an update) with the condition's attribute names and values added."""
    return {
        "UpdateExpression": parts["UpdateExpression"],
        "ExpressionAttributeNames": {**parts["ExpressionAttributeNames"], **names},
        "ExpressionAttributeValues": {**parts["ExpressionAttributeValues"], **values},
    }
