"""Orders: conditional writes so that create never overwrites and amend/delete never resurrect."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from shared.clock import Clock, utc_now
from shared.codecs import order_from_item, order_key, order_to_item
from shared.errors import OrderAlreadyExists, OrderNotFound, StoreBusy
from shared.models import Order, OrderDraft
from shared.repository._translate import error_code, store_errors
from shared.sequence import SequenceGenerator

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

AMEND_ATTEMPTS = 8


class OrderRepository:
    """Reads and writes order items in the single table."""

    def __init__(
        self,
        client: DynamoDBClient,
        table_name: str,
        *,
        clock: Clock = utc_now,
        sequence: SequenceGenerator | None = None,
    ) -> None:
        self._client = client
        self._table = table_name
        self._clock = clock
        self._sequence = sequence or SequenceGenerator()

    def get(self, order_id: int) -> Order:
        """The order with this id (strongly consistent read). Raises `OrderNotFound`."""
        with store_errors():
            response = self._client.get_item(
                TableName=self._table, Key=order_key(order_id), ConsistentRead=True
            )
        item = response.get("Item")
        if item is None:
            raise OrderNotFound(order_id)
        return order_from_item(item)

    def create(self, draft: OrderDraft) -> Order:
        """Place a new order at the back of its price level. Raises `OrderAlreadyExists`."""
        order = Order.place(draft, sequence=self._sequence.next(), at=self._clock())
        with store_errors():
            try:
                self._client.put_item(
                    TableName=self._table,
                    Item=order_to_item(order),
                    ConditionExpression="attribute_not_exists(PK)",
                )
            except ClientError as error:
                if error_code(error) == "ConditionalCheckFailedException":
                    raise OrderAlreadyExists(draft.id) from error
                raise
        return order

    def amend(self, order_id: int, *, amount: int | None, price: Decimal | None) -> Order:
        """Change amount and/or price, applying the time-priority rule. Raises `OrderNotFound`.

        Optimistic concurrency: read the order, compute the amended item (a new price also moves it
        in GSI1), and write it only if `version` is still what was read. A concurrent writer (a
        trade filling it, another amend) makes the write fail; we re-read and re-apply, so the
        amend lands on the latest state. A concurrent delete turns the re-read into 404 instead of
        resurrecting the order.
        """
        for _ in range(AMEND_ATTEMPTS):
            current = self.get(order_id)
            amended = current.amended(
                amount=amount, price=price, next_sequence=self._sequence.next(), at=self._clock()
            )
            if amended is current:
                return current
            with store_errors():
                try:
                    self._client.put_item(
                        TableName=self._table,
                        Item=order_to_item(amended),
                        ConditionExpression="#version = :expected",
                        ExpressionAttributeNames={"#version": "version"},
                        ExpressionAttributeValues={":expected": {"N": str(current.version)}},
                    )
                except ClientError as error:
                    if error_code(error) == "ConditionalCheckFailedException":
                        continue
                    raise
            return amended
        raise StoreBusy(f"order {order_id} kept changing while it was being amended")

    def delete(self, order_id: int) -> Order:
        """Remove the order and return it as it was. Raises `OrderNotFound`."""
        with store_errors():
            try:
                response = self._client.delete_item(
                    TableName=self._table,
                    Key=order_key(order_id),
                    ConditionExpression="attribute_exists(PK)",
                    ReturnValues="ALL_OLD",
                )
            except ClientError as error:
                if error_code(error) == "ConditionalCheckFailedException":
                    raise OrderNotFound(order_id) from error
                raise
        return order_from_item(response["Attributes"])
