"""Request bodies, validated from exactly-decoded JSON as the API receives them."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from services.api.jsonio import decode_json, encode_json
from services.api.schemas.requests import OrderCreate, OrderUpdate
from services.api.schemas.responses import OrderPublic
from shared.models import Order, Side

MOMENT = datetime(2024, 5, 16, 10, 45, 21, 148624, tzinfo=UTC)
VALID_CREATE = b'{"symbol": "JPM", "side": 0, "amount": 20, "price": 20}'


def create(body: bytes) -> OrderCreate:
    return OrderCreate.model_validate(decode_json(body))


def update(body: bytes) -> OrderUpdate:
    return OrderUpdate.model_validate(decode_json(body))


def create_with(**fields: str) -> bytes:
    """A valid create body with some fields replaced by raw JSON text."""
    parts = {"symbol": '"JPM"', "side": "0", "amount": "20", "price": "20", **fields}
    return ("{" + ", ".join(f'"{k}": {v}' for k, v in parts.items()) + "}").encode()


def error_fields(error: ValidationError) -> set[str]:
    return {str(part) for entry in error.errors() for part in entry["loc"]}


# --- OrderCreate: accepted --------------------------------------------------------------------


def test_create_accepts_the_seed_example() -> None:
    body = create(VALID_CREATE)
    assert (body.symbol, body.side, body.amount, body.price) == ("JPM", Side.BUY, 20, Decimal(20))


def test_create_keeps_a_twenty_digit_price_exact() -> None:
    body = create(create_with(price="123456789012.12345678"))
    assert str(body.price) == "123456789012.12345678"


@pytest.mark.parametrize(
    ("raw", "canonical"), [("20.50", "20.5"), ("2E+1", "20"), ("20.0", "20"), ("1e-8", "1E-8")]
)
def test_create_returns_price_in_canonical_form(raw: str, canonical: str) -> None:
    assert str(create(create_with(price=raw)).price) == canonical


@pytest.mark.parametrize(
    ("raw", "side"),
    [
        ("0", Side.BUY),
        ("1", Side.SELL),
        ('"Sell"', Side.SELL),
        ('"buy"', Side.BUY),
        ('"SELL"', Side.SELL),
    ],
)
def test_create_accepts_side_as_number_or_name(raw: str, side: Side) -> None:
    assert create(create_with(side=raw)).side is side


@pytest.mark.parametrize(
    ("field", "raw", "value"),
    [("amount", "20.0", 20), ("amount", "2E+1", 20), ("side", "1.0", Side.SELL)],
)
def test_create_reads_a_whole_number_written_with_a_fraction_as_that_integer(
    field: str, raw: str, value: object
) -> None:
    # JSON (and JSON Schema's "integer") do not tell 20.0 from 20; neither does the API.
    assert getattr(create(create_with(**{field: raw})), field) == value


def test_create_trims_and_upper_cases_symbol() -> None:
    assert create(create_with(symbol='" brk.a "')).symbol == "BRK.A"


def test_create_accepts_the_largest_amount_and_price() -> None:
    body = create(create_with(amount="9007199254740991", price="1000000000000"))
    assert (body.amount, body.price) == (9_007_199_254_740_991, Decimal(10**12))


# --- OrderCreate: rejected, naming the field --------------------------------------------------


@pytest.mark.parametrize(
    ("field", "raw"),
    [
        ("amount", "true"),
        ("amount", "false"),
        ("amount", "20.5"),
        ("amount", "1e400"),
        ("amount", '"20"'),
        ("amount", "0"),
        ("amount", "-1"),
        ("amount", "9007199254740992"),
        ("amount", "null"),
        ("price", '"20"'),
        ("price", "true"),
        ("price", "1e400"),
        ("price", "-1e400"),
        ("price", "1e-400"),
        ("price", "0"),
        ("price", "-20"),
        ("price", "0.000000001"),
        ("price", "1000000000000.00000001"),
        ("price", "null"),
        ("price", "[20]"),
        ("side", "2"),
        ("side", "true"),
        ("side", '"x"'),
        ("side", "1.5"),
        ("side", "2.0"),
        ("side", "null"),
        ("symbol", '""'),
        ("symbol", '"ABCDEFGHIJKLMNOPQ"'),
        ("symbol", '"BRK A"'),
        ("symbol", "42"),
        ("symbol", "null"),
    ],
)
def test_create_rejects_invalid_field_and_names_it(field: str, raw: str) -> None:
    with pytest.raises(ValidationError) as caught:
        create(create_with(**{field: raw}))
    assert error_fields(caught.value) == {field}


@pytest.mark.parametrize("field", ["symbol", "side", "amount", "price"])
def test_create_rejects_a_missing_field(field: str) -> None:
    body: dict[str, Any] = decode_json(VALID_CREATE)
    del body[field]
    with pytest.raises(ValidationError) as caught:
        OrderCreate.model_validate(body)
    assert error_fields(caught.value) == {field}


def test_create_rejects_an_unknown_field() -> None:
    with pytest.raises(ValidationError) as caught:
        create(create_with(prize="20"))
    assert error_fields(caught.value) == {"prize"}


def test_create_rejects_a_body_that_is_not_an_object() -> None:
    with pytest.raises(ValidationError):
        OrderCreate.model_validate(decode_json(b"[1, 2]"))


# --- OrderUpdate ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "amount", "price"),
    [
        (b'{"amount": 25}', 25, None),
        (b'{"price": 20.50}', None, Decimal("20.5")),
        (b'{"amount": 25, "price": 21}', 25, Decimal(21)),
    ],
)
def test_update_accepts_amount_price_or_both(
    body: bytes, amount: int | None, price: Decimal | None
) -> None:
    parsed = update(body)
    assert (parsed.amount, parsed.price) == (amount, price)


def test_update_with_neither_field_is_rejected() -> None:
    with pytest.raises(ValidationError):
        update(b"{}")


@pytest.mark.parametrize(
    "body",
    [
        b'{"amount": null}',
        b'{"price": null}',
        b'{"amount": null, "price": null}',
    ],
)
def test_update_with_only_nulls_is_rejected(body: bytes) -> None:
    with pytest.raises(ValidationError):
        update(body)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b'{"amount": null, "price": 21}', "amount"),
        (b'{"amount": 25, "price": null}', "price"),
    ],
)
def test_update_rejects_null_for_a_field_even_beside_a_valid_one(body: bytes, field: str) -> None:
    # The contract's amount is an integer and price a number; null is neither ("wrong type").
    with pytest.raises(ValidationError) as caught:
        update(body)
    assert error_fields(caught.value) == {field}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b'{"amount": true}', "amount"),
        (b'{"amount": 20.5}', "amount"),
        (b'{"amount": 0}', "amount"),
        (b'{"price": "20"}', "price"),
        (b'{"price": 1e400}', "price"),
        (b'{"price": 0.000000001}', "price"),
        (b'{"amount": 25, "side": 1}', "side"),
    ],
)
def test_update_rejects_invalid_field_and_names_it(body: bytes, field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        update(body)
    assert error_fields(caught.value) == {field}


# --- response body ----------------------------------------------------------------------------


def test_order_body_has_the_public_fields_with_side_as_integer_and_exact_price() -> None:
    order = Order(
        id=1,
        symbol="JPM",
        side=Side.SELL,
        amount=20,
        price=Decimal("20.5"),
        sequence="s",
        version=1,
        created_at=MOMENT,
        updated_at=MOMENT,
        account="desk-7",
        token="0123456789abcdef",
    )
    assert encode_json(OrderPublic.of(order)) == (
        b'{"id":1,"symbol":"JPM","side":1,"amount":20,"price":20.5}'
    )
