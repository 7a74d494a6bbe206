"""The order repository against moto and DynamoDB Local."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest
from botocore.exceptions import ClientError

from shared.codecs import order_to_item
from shared.errors import OrderAlreadyExists, OrderNotFound, StoreUnavailable
from shared.models import OrderDraft, Side
from shared.repository import OrderRepository, make_clients
from shared.settings import AwsSettings
from tests.conftest import Store


def draft(order_id: int = 1, **changes: Any) -> OrderDraft:
    values: dict[str, Any] = {
        "id": order_id,
        "symbol": "JPM",
        "side": Side.BUY,
        "amount": 20,
        "price": Decimal(20),
    }
    values.update(changes)
    return OrderDraft(**values)


@pytest.fixture
def orders(store: Store) -> OrderRepository:
    return OrderRepository(store.clients.dynamodb, store.settings.table_name)


def book_ids(store: Store, symbol: str, side: Side) -> list[int]:
    """Order ids of a book in GSI1 ascending order (what the book walk will read)."""
    response = store.clients.dynamodb.query(
        TableName=store.settings.table_name,
        IndexName="GSI1",
        KeyConditionExpression="GSI1PK = :book",
        ExpressionAttributeValues={":book": {"S": f"BOOK#{symbol}#{int(side)}"}},
    )
    return [int(item["id"]["N"]) for item in response["Items"]]


@contextmanager
def before_call(store: Store, operation: str, hook: Callable[..., None]) -> Iterator[None]:
    """Run `hook` just before each `operation` request the table's client sends."""
    events = store.clients.dynamodb.meta.events
    event = f"before-call.dynamodb.{operation}"
    events.register(event, hook)
    try:
        yield
    finally:
        events.unregister(event, hook)


def test_created_order_reads_back_exactly(orders: OrderRepository) -> None:
    created = orders.create(
        draft(7, price=Decimal("123456789012.12345678"), symbol="BRK.A"), account="maker"
    )
    read = orders.get(7)
    assert read == created
    assert read.price == Decimal("123456789012.12345678")
    assert (read.symbol, read.side, read.amount, read.version) == ("BRK.A", Side.BUY, 20, 1)


def test_get_of_missing_order_raises_not_found(orders: OrderRepository) -> None:
    with pytest.raises(OrderNotFound):
        orders.get(404)


def test_create_never_overwrites_an_existing_order(orders: OrderRepository) -> None:
    first = orders.create(draft(1), account="maker")
    with pytest.raises(OrderAlreadyExists):
        orders.create(draft(1, amount=99, price=Decimal(1)), account="maker")
    assert orders.get(1) == first


def test_book_index_returns_walk_order_for_both_sides(
    store: Store, orders: OrderRepository
) -> None:
    for order_id, price in [(1, "21"), (2, "20"), (3, "10000000.5"), (4, "20"), (5, "0.00000001")]:
        orders.create(draft(order_id, price=Decimal(price)), account="maker")
        orders.create(draft(order_id + 100, price=Decimal(price), side=Side.SELL), account="maker")
    assert book_ids(store, "JPM", Side.BUY) == [5, 2, 4, 1, 3]
    assert book_ids(store, "JPM", Side.SELL) == [103, 101, 102, 104, 105]


def test_price_change_moves_order_to_back_of_new_level(
    store: Store, orders: OrderRepository
) -> None:
    orders.create(draft(1, price=Decimal(20)), account="maker")
    orders.create(draft(2, price=Decimal(21)), account="maker")
    orders.create(draft(3, price=Decimal(21)), account="maker")
    amended = orders.amend(1, amount=None, price=Decimal(21))
    assert amended.price == Decimal(21)
    assert amended.version == 2
    assert book_ids(store, "JPM", Side.BUY) == [2, 3, 1]


def test_amount_increase_loses_time_priority(store: Store, orders: OrderRepository) -> None:
    orders.create(draft(1), account="maker")
    orders.create(draft(2), account="maker")
    orders.amend(1, amount=25, price=None)
    assert book_ids(store, "JPM", Side.BUY) == [2, 1]


def test_amount_decrease_keeps_time_priority(store: Store, orders: OrderRepository) -> None:
    first = orders.create(draft(1), account="maker")
    orders.create(draft(2), account="maker")
    amended = orders.amend(1, amount=5, price=None)
    assert amended.sequence == first.sequence
    assert orders.get(1).amount == 5
    assert book_ids(store, "JPM", Side.BUY) == [1, 2]


def test_amend_that_changes_nothing_writes_nothing(orders: OrderRepository) -> None:
    created = orders.create(draft(1), account="maker")
    assert orders.amend(1, amount=20, price=Decimal("20.000")) == created
    assert orders.get(1).version == 1


def test_amend_of_missing_order_raises_not_found_and_creates_nothing(
    orders: OrderRepository,
) -> None:
    with pytest.raises(OrderNotFound):
        orders.amend(9, amount=5, price=None)
    with pytest.raises(OrderNotFound):
        orders.get(9)


def test_amend_retries_on_a_concurrent_write_and_lands_on_the_latest_state(
    store: Store, orders: OrderRepository
) -> None:
    created = orders.create(draft(1), account="maker")
    raced = False

    def competing_fill(**_: object) -> None:
        # Another writer (say, a trade) reduces the order between our read and our write.
        nonlocal raced
        if raced:
            return
        raced = True
        store.clients.dynamodb.put_item(
            TableName=store.settings.table_name,
            Item=order_to_item(replace(created, amount=15, version=2)),
        )

    with before_call(store, "PutItem", competing_fill):
        amended = orders.amend(1, amount=None, price=Decimal(22))
    assert raced
    assert (amended.amount, amended.price, amended.version) == (15, Decimal(22), 3)
    assert orders.get(1) == amended


def test_amend_after_concurrent_delete_is_not_found_and_does_not_resurrect(
    store: Store, orders: OrderRepository
) -> None:
    orders.create(draft(1), account="maker")
    deleted = False

    def concurrent_delete(**_: object) -> None:
        nonlocal deleted
        if not deleted:
            deleted = True
            store.clients.dynamodb.delete_item(
                TableName=store.settings.table_name,
                Key={"PK": {"S": "ORDER#1"}, "SK": {"S": "ORDER"}},
            )

    with before_call(store, "PutItem", concurrent_delete), pytest.raises(OrderNotFound):
        orders.amend(1, amount=30, price=None)
    with pytest.raises(OrderNotFound):
        orders.get(1)


def test_delete_returns_the_order_and_a_second_delete_is_not_found(
    store: Store, orders: OrderRepository
) -> None:
    created = orders.create(draft(1), account="maker")
    assert orders.delete(1) == created
    with pytest.raises(OrderNotFound):
        orders.delete(1)
    assert book_ids(store, "JPM", Side.BUY) == []


def test_throttling_after_retries_becomes_store_unavailable(
    store: Store, orders: OrderRepository
) -> None:
    def throttle(**_: object) -> None:
        raise ClientError(
            {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}},
            "GetItem",
        )

    with before_call(store, "GetItem", throttle), pytest.raises(StoreUnavailable):
        orders.get(1)


def test_unreachable_endpoint_becomes_store_unavailable() -> None:
    settings = AwsSettings(
        dynamodb_endpoint_url="http://127.0.0.1:9",
        connect_timeout_seconds=0.2,
        read_timeout_seconds=0.2,
        max_attempts=1,
    )
    orders = OrderRepository(make_clients(settings).dynamodb, settings.table_name)
    with pytest.raises(StoreUnavailable, match="unreachable"):
        orders.get(1)
