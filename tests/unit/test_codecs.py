"""Order items: exact numbers, discriminator and version, book keys derived from `shared.keys`."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given

from shared import codecs, keys
from shared.clock import format_timestamp, parse_timestamp
from shared.models import Order, Side
from tests.unit.strategies import moments, orders

PLAIN_NUMBER = re.compile(r"-?\d+(\.\d+)?")


def sample_order(**changes: object) -> Order:
    fields: dict[str, object] = {
        "id": 9_007_199_254_740_991,
        "symbol": "BRK.A",
        "side": Side.SELL,
        "amount": 10,
        "price": Decimal("123456789012.12345678"),
        "sequence": "1715856321148624000.0000abcd",
        "version": 2,
        "created_at": datetime(2024, 5, 16, 10, 45, 21, 148624, tzinfo=UTC),
        "updated_at": datetime(2024, 5, 16, 10, 45, 22, 0, tzinfo=UTC),
        "account": "desk-7",
        "token": "0123456789abcdef",
    }
    fields.update(changes)
    return Order(**fields)  # type: ignore[arg-type]


@given(order=orders)
def test_order_survives_item_round_trip(order: Order) -> None:
    assert codecs.order_from_item(codecs.order_to_item(order)) == order


@given(order=orders)
def test_item_carries_entity_version_and_book_keys_from_keys_module(order: Order) -> None:
    item = codecs.order_to_item(order)
    assert item["entity"] == {"S": "ORDER"}
    assert item["version"] == {"N": str(order.version)}
    assert item["PK"] == {"S": keys.order_pk(order.id)}
    assert item["SK"] == {"S": keys.order_sk()}
    assert item["GSI1PK"] == {"S": keys.book_pk(order.symbol, order.side)}
    assert item["GSI1SK"] == {"S": keys.book_sk(order.side, order.price, order.sequence)}


@given(order=orders)
def test_item_numbers_are_plain_digits_without_exponent(order: Order) -> None:
    item = codecs.order_to_item(order)
    for name in ("id", "side", "amount", "price", "version"):
        assert PLAIN_NUMBER.fullmatch(item[name]["N"]), (name, item[name])


def test_item_primary_key_equals_order_key() -> None:
    order = sample_order()
    item = codecs.order_to_item(order)
    assert {name: item[name] for name in ("PK", "SK")} == codecs.order_key(order.id)


def test_item_keeps_a_price_digit_for_digit() -> None:
    item = codecs.order_to_item(sample_order())
    assert item["price"] == {"N": "123456789012.12345678"}
    assert (
        codecs.order_from_item(item).price.as_tuple() == Decimal("123456789012.12345678").as_tuple()
    )


def test_item_writes_side_as_its_number() -> None:
    assert codecs.order_to_item(sample_order(side=Side.SELL))["side"] == {"N": "1"}
    assert codecs.order_to_item(sample_order(side=Side.BUY))["side"] == {"N": "0"}


def test_item_timestamps_are_iso_utc_with_z() -> None:
    item = codecs.order_to_item(sample_order())
    assert item["createdAt"] == {"S": "2024-05-16T10:45:21.148624Z"}
    assert item["updatedAt"] == {"S": "2024-05-16T10:45:22.000000Z"}


@pytest.mark.parametrize(
    ("value", "written"),
    [
        (Decimal("1E-8"), "0.00000001"),
        (Decimal("2E+1"), "20"),
        (Decimal("1E+12"), "1000000000000"),
        (Decimal("20.5"), "20.5"),
        (Decimal("123456789012.12345678"), "123456789012.12345678"),
        (Decimal("123456789012345678901234.567890123456"), "123456789012345678901234.567890123456"),
        (9_007_199_254_740_991, "9007199254740991"),
        (0, "0"),
    ],
    ids=str,
)
def test_number_attribute_is_written_exactly_without_exponent(
    value: int | Decimal, written: str
) -> None:
    assert codecs.number(value) == {"N": written}


def test_string_attribute_wraps_the_text() -> None:
    assert codecs.string("JPM") == {"S": "JPM"}


@pytest.mark.parametrize(
    "entity",
    [{"S": "TRADE"}, {"S": "order"}, {"N": "1"}, None],
    ids=["trade", "lower-case", "number", "missing"],
)
def test_item_that_is_not_an_order_is_refused(entity: dict[str, str] | None) -> None:
    item = dict(codecs.order_to_item(sample_order()))
    if entity is None:
        del item["entity"]
    else:
        item["entity"] = entity  # type: ignore[assignment]
    with pytest.raises(ValueError):
        codecs.order_from_item(item)


@given(moment=moments)
def test_timestamp_format_round_trips_with_microseconds(moment: datetime) -> None:
    text = format_timestamp(moment)
    assert text.endswith("Z")
    assert parse_timestamp(text) == moment


def test_timestamp_of_other_zone_is_written_in_utc() -> None:
    moment = datetime(2024, 5, 16, 12, 45, 21, 148624, tzinfo=timezone(timedelta(hours=2)))
    assert format_timestamp(moment) == "2024-05-16T10:45:21.148624Z"
