"""`order_item_json`: the loader's hand-written item JSON must be exactly `order_to_item`."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given

from shared import codecs
from shared.clock import format_timestamp
from shared.models import Order, Side
from tests.unit.strategies import orders


def sample_order(**changes: object) -> Order:
    fields: dict[str, object] = {
        "id": 9_007_199_254_740_991,
        "symbol": "BRK.A",
        "side": Side.SELL,
        "amount": 10,
        "price": Decimal("123456789012.12345678"),
        "sequence": "1715856321148624000.0000abcd",
        "version": 1_715_856_321_000_000,
        "created_at": datetime(2024, 5, 16, 10, 45, 21, 148624, tzinfo=UTC),
        "updated_at": datetime(2024, 5, 16, 10, 45, 22, tzinfo=UTC),
        "account": "desk-7",
        "token": "0123456789abcdef",
    }
    fields.update(changes)
    return Order(**fields)  # type: ignore[arg-type]


@given(order=orders)
def test_item_json_parses_to_exactly_the_item_order_to_item_builds(order: Order) -> None:
    assert json.loads(codecs.order_item_json(order)) == codecs.order_to_item(order)


@given(order=orders)
def test_item_json_parts_with_preformatted_stamps_equals_item_json(order: Order) -> None:
    parts = codecs.order_item_json_parts(
        order,
        created_text=format_timestamp(order.created_at),
        updated_text=format_timestamp(order.updated_at),
    )
    assert parts == codecs.order_item_json(order)


@given(order=orders)
def test_item_json_round_trips_to_the_same_order(order: Order) -> None:
    assert codecs.order_from_item(json.loads(codecs.order_item_json(order))) == order


@pytest.mark.parametrize(
    ("price", "text"),
    [
        (Decimal("2E+1"), "20"),
        (Decimal("1E+12"), "1000000000000"),
        (Decimal("1E-8"), "0.00000001"),
        (Decimal("123456789012.12345678"), "123456789012.12345678"),
    ],
)
def test_item_json_writes_the_price_as_plain_digits(price: Decimal, text: str) -> None:
    item_json = codecs.order_item_json(sample_order(price=price))
    assert f'"price":{{"N":"{text}"}}' in item_json
    assert json.loads(item_json)["price"] == {"N": text}


def test_item_json_writes_timestamps_in_utc_whatever_the_zone() -> None:
    eastern = timezone(timedelta(hours=-5))
    order = sample_order(created_at=datetime(2024, 5, 16, 5, 45, 21, 148624, tzinfo=eastern))
    item = json.loads(codecs.order_item_json(order))
    assert item["createdAt"] == {"S": "2024-05-16T10:45:21.148624Z"}
    assert item == codecs.order_to_item(order)


def test_item_json_is_compact_ascii_on_one_line() -> None:
    item_json = codecs.order_item_json(sample_order())
    assert item_json.isascii()
    assert "\n" not in item_json
    assert item_json == json.dumps(json.loads(item_json), separators=(",", ":"))
