"""Reading order books from GSI1: best first, a page at a time, only what the walk needs.

GSI1 is eventually consistent. An order created (or re-priced) a moment ago may not be in the
index yet — on AWS the lag is typically well under a second — so a quote or trade issued within
that window may not see it. The reverse (an index entry for an order already filled or deleted)
is harmless for trades: each fill is conditioned on the order's version, so a stale entry makes
the transaction fail and the trade re-reads and re-plans, with what the failure revealed
overriding the stale entries (`known`).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from shared import keys
from shared.book import RestingOrder
from shared.codecs import AMOUNT, BOOK_ENTRY_ATTRIBUTES, ORDER_ID, PRICE, TOKEN, VERSION, Item
from shared.models import BookEntry, Side
from shared.repository._translate import store_errors
from shared.schema import BOOK_INDEX, INDEX_PARTITION_KEY

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

ITEMS_PER_READ_UNIT = 12
FIRST_PAGE = ITEMS_PER_READ_UNIT
MAX_PAGE = 1000
# An order item is ~320 bytes and a Query page is charged per started 4 KB, so a page of up to 12
# items costs the same capacity as a page of one: pages are rounded up to whole read units.
_PROJECTION = ", ".join(f"#{name}" for name in BOOK_ENTRY_ATTRIBUTES)
_PROJECTION_NAMES = {f"#{name}": name for name in BOOK_ENTRY_ATTRIBUTES}


def resting_order(item: Item) -> RestingOrder:
    """A book item, decoded to what the walk needs."""
    return RestingOrder(
        id=int(item[ORDER_ID]["N"]),
        amount=int(item[AMOUNT]["N"]),
        price=Decimal(item[PRICE]["N"]),
        version=int(item[VERSION]["N"]),
        token=item[TOKEN]["S"],
    )


class BookReader:
    """Best-first reads of one (symbol, side) book."""

    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def walk_order(
        self,
        symbol: str,
        side: Side,
        amount: int | None,
        *,
        known: Mapping[int, RestingOrder | None] | None = None,
        most: int | None = None,
    ) -> Iterator[RestingOrder]:
        """Resting orders best first, read lazily as the consumer asks for more.

        With `amount`, each page's Limit is sized to what the walk still needs (every order holds
        at least 1, so never more than the remaining amount; after the first page, the average
        order size so far predicts how many more are needed). With `most`, no page asks for more
        orders than the consumer will take in all (a trade stops at 99). `known` holds states
        learnt from failed transactions (None = gone) that override older index entries.
        """
        remaining = amount
        seen_orders = seen_amount = 0
        start_key: Item | None = None
        while True:
            limit = _page_limit(remaining, seen_orders, seen_amount)
            if most is not None:
                limit = max(1, min(limit, most - seen_orders))
            items, start_key = self._page(symbol, side, limit, start_key)
            for item in items:
                order = _reconcile(resting_order(item), known)
                if order is None:
                    continue
                seen_orders += 1
                seen_amount += order.amount
                if remaining is not None:
                    remaining -= order.amount
                yield order
            if start_key is None:
                return

    def snapshot(self, symbol: str, side: Side, depth: int) -> list[BookEntry]:
        """Up to `depth` resting orders in walk order."""
        entries: list[BookEntry] = []
        start_key: Item | None = None
        while len(entries) < depth:
            wanted = min(MAX_PAGE, depth - len(entries))
            items, start_key = self._page(symbol, side, wanted, start_key)
            for item in items:
                order = resting_order(item)
                entries.append(BookEntry(id=order.id, amount=order.amount, price=order.price))
            if start_key is None:
                break
        return entries

    def _page(
        self, symbol: str, side: Side, limit: int, start_key: Item | None
    ) -> tuple[list[Item], Item | None]:
        request: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": BOOK_INDEX,
            "KeyConditionExpression": "#book = :book",
            "ExpressionAttributeValues": {":book": {"S": keys.book_pk(symbol, side)}},
            "ProjectionExpression": _PROJECTION,
            "ExpressionAttributeNames": {"#book": INDEX_PARTITION_KEY, **_PROJECTION_NAMES},
            "Limit": limit,
        }
        if start_key is not None:
            request["ExclusiveStartKey"] = start_key
        with store_errors():
            response = self._client.query(**request)
        return list(response.get("Items", [])), response.get("LastEvaluatedKey")


def _page_limit(remaining: int | None, seen_orders: int, seen_amount: int) -> int:
    if remaining is None:
        return MAX_PAGE
    if seen_orders == 0:
        return max(1, min(remaining, FIRST_PAGE))
    predicted = math.ceil(remaining * seen_orders / seen_amount * 1.1) + 1
    whole_units = math.ceil(predicted / ITEMS_PER_READ_UNIT) * ITEMS_PER_READ_UNIT
    return max(1, min(remaining, MAX_PAGE, whole_units))


def _reconcile(
    indexed: RestingOrder, known: Mapping[int, RestingOrder | None] | None
) -> RestingOrder | None:
    if not known or indexed.id not in known:
        return indexed
    truth = known[indexed.id]
    if truth is None:
        return None
    if indexed.token == truth.token and indexed.version >= truth.version:
        return indexed
    # A newer state at another price belongs elsewhere in the book; the index will move it.
    return truth if truth.price == indexed.price else None
