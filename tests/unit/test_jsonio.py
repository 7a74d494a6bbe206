"""Exact JSON: request numbers are read as Decimal, response numbers written digit for digit."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.api.jsonio import decode_json, encode_json
from shared.models import Side

PLAIN_NUMBER = re.compile(rb"-?\d+(\.\d+)?")

# --- decode -----------------------------------------------------------------------------------


def test_decode_keeps_a_twenty_digit_price_exact() -> None:
    price = decode_json(b'{"price": 123456789012.12345678}')["price"]
    assert isinstance(price, Decimal)
    assert price.as_tuple() == Decimal("123456789012.12345678").as_tuple()


def test_decode_reads_integers_as_int() -> None:
    decoded = decode_json(b'{"amount": 9007199254740991}')
    assert decoded["amount"] == 9_007_199_254_740_991
    assert type(decoded["amount"]) is int


def test_decode_reads_a_fraction_with_zero_decimals_as_decimal_not_int() -> None:
    amount = decode_json(b'{"amount": 20.0}')["amount"]
    assert isinstance(amount, Decimal)


def test_decode_reads_a_huge_exponent_as_decimal_not_infinity() -> None:
    price = decode_json(b'{"price": 1e400}')["price"]
    assert price == Decimal("1E+400")
    assert price.is_finite()


@pytest.mark.parametrize("constant", [b"NaN", b"Infinity", b"-Infinity"])
def test_decode_rejects_non_finite_constants_as_json_errors(constant: bytes) -> None:
    # A JSONDecodeError (not any ValueError) is what FastAPI turns into a 422.
    with pytest.raises(json.JSONDecodeError):
        decode_json(b'{"price": ' + constant + b"}")


def test_decode_reads_unicode_strings() -> None:
    assert decode_json('{"note": "Zürich €"}'.encode()) == {"note": "Zürich €"}


# --- encode -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "written"),
    [
        (Decimal("20"), b"20"),
        (Decimal("20.00"), b"20"),
        (Decimal("2E+1"), b"20"),
        (Decimal("1E+12"), b"1000000000000"),
        (Decimal("-0"), b"0"),
        (Decimal("0.00000001"), b"0.00000001"),
        (Decimal("1E-8"), b"0.00000001"),
        (Decimal("20.5"), b"20.5"),
        (Decimal("123456789012.12345678"), b"123456789012.12345678"),
        (
            Decimal("123456789012345678901234.567890123456"),
            b"123456789012345678901234.567890123456",
        ),
    ],
    ids=str,
)
def test_encode_writes_decimals_exactly_and_integral_ones_as_integers(
    value: Decimal, written: bytes
) -> None:
    assert encode_json(value) == written


def test_encode_writes_ints_bools_and_null() -> None:
    assert encode_json([0, -7, 9_007_199_254_740_991, True, False, None]) == (
        b"[0,-7,9007199254740991,true,false,null]"
    )


def test_encode_writes_int_enums_as_their_number() -> None:
    assert encode_json({"side": Side.SELL}) == b'{"side":1}'


def test_encode_writes_nested_structures() -> None:
    value = {
        "symbol": "JPM",
        "fills": [{"orderId": 1, "amount": 20, "price": Decimal("20")}, {"price": Decimal("2.5")}],
        "reason": None,
        "empty": {"list": [], "dict": {}},
        "tuple": (1, 2),
    }
    assert encode_json(value) == (
        b'{"symbol":"JPM","fills":[{"orderId":1,"amount":20,"price":20},{"price":2.5}],'
        b'"reason":null,"empty":{"list":[],"dict":{}},"tuple":[1,2]}'
    )


def test_encode_writes_unicode_as_utf8_and_escapes_quotes_and_controls() -> None:
    encoded = encode_json({"s": 'Zürich € "q" \\ \n \x01'})
    assert encoded == '{"s":"Zürich € \\"q\\" \\\\ \\n \\u0001"}'.encode()
    assert json.loads(encoded) == {"s": 'Zürich € "q" \\ \n \x01'}


def test_encode_refuses_binary_floats() -> None:
    with pytest.raises(TypeError):
        encode_json({"price": 20.5})


@pytest.mark.parametrize("value", [Decimal("NaN"), Decimal("Infinity"), Decimal("-Infinity")])
def test_encode_refuses_non_finite_decimals(value: Decimal) -> None:
    with pytest.raises(ValueError):
        encode_json(value)


def test_encode_refuses_unknown_types() -> None:
    with pytest.raises(TypeError):
        encode_json({"when": object()})


# --- round trips ------------------------------------------------------------------------------

decimals = st.one_of(
    st.decimals(
        min_value=-(10**24), max_value=10**24, allow_nan=False, allow_infinity=False, places=places
    )
    for places in (0, 2, 8, 12)
)
leaves = st.none() | st.booleans() | st.integers() | st.text() | decimals
json_values = st.recursive(
    leaves,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=25,
)


@given(value=json_values)
def test_decode_of_encode_gives_back_an_equal_value(value: Any) -> None:
    assert decode_json(encode_json(value)) == value


@given(value=json_values)
def test_encoded_output_is_standard_json(value: Any) -> None:
    assert json.loads(encode_json(value), parse_float=Decimal) == value


@given(value=decimals)
def test_encoded_decimal_is_a_plain_number_equal_to_the_value(value: Decimal) -> None:
    encoded = encode_json(value)
    assert PLAIN_NUMBER.fullmatch(encoded)
    assert Decimal(encoded.decode()) == value


@given(value=st.integers(1, 10**12 * 10**8).map(lambda units: Decimal(units).scaleb(-8)))
def test_integral_decimal_is_written_as_a_json_integer(value: Decimal) -> None:
    encoded = encode_json(value)
    assert (b"." not in encoded) == (value == value.to_integral_value())
