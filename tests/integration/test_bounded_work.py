"""Bounded work on both engines: a quote never walks more than 1,000 orders, a book view never
returns more than its depth (1-1000, default 100)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest

from shared.codecs import order_to_item
from shared.models import Order, Side
from tests.conftest import Store

BOOK_ORDERS = 10_000
MAX_SAFE = 2**53 - 1


def seed_book(store: Store, count: int) -> None:
    """`count` one-lot side-0 JPM orders, written 25 at a time."""
    at = datetime(2024, 5, 16, tzinfo=UTC)
    items = [
        order_to_item(
            Order(
                id=order_id,
                symbol="JPM",
                side=Side.BUY,
                amount=1,
                price=Decimal(10 + order_id % 50),
                sequence=f"{order_id:019d}.00000000",
                version=1,
                created_at=at,
                updated_at=at,
                account="seed",
                token=f"{order_id:016x}",
            )
        )
        for order_id in range(1, count + 1)
    ]
    client, table = store.clients.dynamodb, store.settings.table_name
    for start in range(0, len(items), 25):
        requests: Any = [{"PutRequest": {"Item": item}} for item in items[start : start + 25]]
        pending = {table: requests}
        while pending:
            pending = client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}


def test_a_book_of_10000_orders_is_never_read_whole(store: Store, api: httpx.Client) -> None:
    # One seeded book (10,000 orders take a while to write), three bounded readers of it.
    seed_book(store, BOOK_ORDERS)
    read: list[int] = []

    def count(parsed: dict[str, Any], **_: Any) -> None:
        read.append(len(parsed.get("Items", [])))

    events = store.clients.dynamodb.meta.events
    events.register("after-call.dynamodb.Query", count)
    try:
        largest = {"symbol": "JPM", "side": 0, "amount": MAX_SAFE}
        quote = api.post("/api/price", json=largest).json()
        quote_reads, read[:] = sum(read), []
        trade = api.post("/api/trade", json=largest).json()
        trade_reads = sum(read)
    finally:
        events.unregister("after-call.dynamodb.Query", count)
    assert quote["successful"] is False and quote["price"] is None
    assert "more than 1000 resting orders" in quote["reason"]
    assert 1000 < quote_reads <= 2000  # one page past the cap at most, never the book
    assert trade["successful"] is False and "98 resting orders" in trade["reason"]
    assert trade_reads <= 200
    for depth, returned in ((None, 100), (1, 1), (1000, 1000)):
        params: dict[str, int] = {"side": 0} | ({"depth": depth} if depth else {})
        orders = api.get("/api/orderbook/JPM", params=params).json()["orders"]
        assert len(orders) == returned


@pytest.mark.parametrize("depth", [0, 1001, -1])
def test_a_depth_outside_1_to_1000_is_422(api: httpx.Client, depth: int) -> None:
    response = api.get("/api/orderbook/JPM", params={"side": 0, "depth": depth})
    assert response.status_code == 422
