"""The contract's value rules, shared by the API and the loader."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.models import Side
from shared.validation import (
    ACCOUNT_PATTERN,
    KEY_NAME_PATTERN,
    MAX_AMOUNT,
    MAX_ORDER_ID,
    SIDE_NAME_PATTERN,
    SYMBOL_INPUT_PATTERN,
    SYMBOL_PATTERN,
    InvalidValue,
    canonical_decimal,
    check_account,
    check_amount,
    check_key_name,
    check_order_id,
    check_price,
    normalize_symbol,
    parse_amount_text,
    parse_decimal_text,
    parse_integer_text,
    parse_order_id_text,
    parse_price_text,
    parse_side,
    parse_side_text,
)
from tests.unit.strategies import price_from_units, price_units, prices


def test_invalid_value_is_a_value_error() -> None:
    assert issubclass(InvalidValue, ValueError)


# --- symbol -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("JPM", "JPM"),
        ("jpm", "JPM"),
        (" brk.a ", "BRK.A"),
        ("\tmsft\n", "MSFT"),
        ("a_b-c.9", "A_B-C.9"),
        ("X", "X"),
        ("ABCDEFGHIJKLMNOP", "ABCDEFGHIJKLMNOP"),
        ("  abcdefghijklmnop  ", "ABCDEFGHIJKLMNOP"),
    ],
)
def test_symbol_is_trimmed_and_upper_cased(raw: str, expected: str) -> None:
    assert normalize_symbol(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "ABCDEFGHIJKLMNOPQ",
        "BRK A",
        "A#B",
        "A/B",
        "A:B",
        "ÄBC",
        "١٢٣",
        "JPM\x00",
        "A\nB",
    ],
)
def test_symbol_outside_the_allowed_characters_or_length_is_rejected(raw: str) -> None:
    with pytest.raises(InvalidValue):
        normalize_symbol(raw)


# --- side -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (0, Side.BUY),
        (1, Side.SELL),
        (Side.SELL, Side.SELL),
        ("Buy", Side.BUY),
        ("buy", Side.BUY),
        ("BUY", Side.BUY),
        ("Sell", Side.SELL),
        ("sell", Side.SELL),
        ("SELL", Side.SELL),
        ("sElL", Side.SELL),
    ],
)
def test_side_accepts_numbers_and_names_in_any_case(raw: int | str, expected: Side) -> None:
    side = parse_side(raw)
    assert side is expected


@pytest.mark.parametrize(
    "raw",
    [True, False, 2, -1, "x", "", "Bid", "Ask", 1.0, 0.0, Decimal(1), None],
    ids=repr,
)
def test_side_rejects_anything_but_zero_one_buy_or_sell(raw: object) -> None:
    with pytest.raises(InvalidValue):
        parse_side(raw)  # type: ignore[arg-type]


# --- amount -----------------------------------------------------------------------------------


@pytest.mark.parametrize("amount", [1, 2, 20, MAX_AMOUNT])
def test_amount_within_one_to_two_pow_53_minus_one_is_accepted(amount: int) -> None:
    assert check_amount(amount) == amount


@pytest.mark.parametrize("amount", [0, -1, MAX_AMOUNT + 1, 2**64])
def test_amount_out_of_range_is_rejected(amount: int) -> None:
    with pytest.raises(InvalidValue):
        check_amount(amount)


@pytest.mark.parametrize("amount", [True, False])
def test_amount_rejects_booleans(amount: bool) -> None:
    with pytest.raises(InvalidValue):
        check_amount(amount)


def test_amount_limit_is_the_largest_json_safe_integer() -> None:
    assert MAX_AMOUNT == 9_007_199_254_740_991


# --- price ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "price",
    ["0.00000001", "20", "20.5", "510500", "10000000", "123456789012.12345678", "1000000000000"],
)
def test_price_within_the_rules_is_accepted_with_its_value(price: str) -> None:
    assert check_price(Decimal(price)) == Decimal(price)


@pytest.mark.parametrize(
    "price",
    [
        "0",
        "-0",
        "-1",
        "-0.00000001",
        "0.000000001",
        "20.123456789",
        "1000000000000.00000001",
        "1000000000001",
        "1E+400",
        "1E-400",
        "NaN",
        "sNaN",
        "Infinity",
        "-Infinity",
    ],
)
def test_price_outside_the_rules_is_rejected(price: str) -> None:
    with pytest.raises(InvalidValue):
        check_price(Decimal(price))


@pytest.mark.parametrize(
    ("price", "canonical"),
    [
        ("20.50", "20.5"),
        ("20.00000000", "20"),
        ("20.0", "20"),
        ("2E+1", "20"),
        ("1E+12", "1000000000000"),
        ("510500.000", "510500"),
        ("0.10000000", "0.1"),
    ],
)
def test_price_is_returned_in_canonical_form(price: str, canonical: str) -> None:
    assert str(check_price(Decimal(price))) == canonical


def test_integral_price_comes_back_with_exponent_zero() -> None:
    assert check_price(Decimal("2E+1")).as_tuple().exponent == 0


@given(units=price_units)
def test_every_price_on_the_one_hundred_millionth_grid_is_accepted(units: int) -> None:
    price = price_from_units(units)
    assert check_price(price) == price


@given(price=prices)
def test_canonical_price_has_no_trailing_fractional_zeros_and_is_stable(price: Decimal) -> None:
    canonical = check_price(price)
    exponent = canonical.as_tuple().exponent
    assert isinstance(exponent, int)
    if exponent < 0:
        assert canonical.as_tuple().digits[-1] != 0
    else:
        assert exponent == 0
    assert str(check_price(canonical)) == str(canonical)


def test_canonical_decimal_keeps_the_value() -> None:
    assert canonical_decimal(Decimal("123456789012.12345000")) == Decimal("123456789012.12345")


# --- order id ---------------------------------------------------------------------------------


@pytest.mark.parametrize("order_id", [1, 42, MAX_ORDER_ID])
def test_order_id_within_range_is_accepted(order_id: int) -> None:
    assert check_order_id(order_id) == order_id


@pytest.mark.parametrize("order_id", [0, -5, MAX_ORDER_ID + 1])
def test_order_id_out_of_range_is_rejected(order_id: int) -> None:
    with pytest.raises(InvalidValue):
        check_order_id(order_id)


# --- text cells (CSV) -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("20", "20"),
        ("20.5", "20.5"),
        (" 20.50 ", "20.50"),
        ("-1.5", "-1.5"),
        ("+3", "3"),
        (".5", "0.5"),
        ("0.00000001", "0.00000001"),
        ("123456789012.12345678", "123456789012.12345678"),
    ],
)
def test_decimal_text_parses_plain_numbers_exactly(text: str, expected: str) -> None:
    parsed = parse_decimal_text(text)
    assert parsed == Decimal(expected)
    assert str(parsed) == str(Decimal(expected))


@pytest.mark.parametrize(
    "text",
    [
        "1e5",
        "1E5",
        "abc",
        "",
        "   ",
        "1,000",
        "NaN",
        "nan",
        "Infinity",
        "inf",
        "0x10",
        "1.2.3",
        "--1",
    ],
)
def test_decimal_text_rejects_anything_but_a_plain_number(text: str) -> None:
    with pytest.raises(InvalidValue):
        parse_decimal_text(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("42", 42), (" 7 ", 7), ("-3", -3), ("+5", 5), ("9007199254740991", 9_007_199_254_740_991)],
)
def test_integer_text_parses_plain_integers(text: str, expected: int) -> None:
    assert parse_integer_text(text) == expected


@pytest.mark.parametrize(
    "text", ["1e5", "abc", "", "1,000", "NaN", "1.0", "1.5", "0x10", "1_000", "--1"]
)
def test_integer_text_rejects_anything_but_a_plain_integer(text: str) -> None:
    with pytest.raises(InvalidValue):
        parse_integer_text(text)


# --- patterns: the rules' text forms, read the same by Python and by JSON Schema --------------


@pytest.mark.parametrize(
    ("pattern", "accepted", "rejected"),
    [
        (
            SYMBOL_INPUT_PATTERN,
            ["JPM", " brk.a ", "\tmsft\n", "a_b-c.9", "ABCDEFGHIJKLMNOP"],
            ["", "   ", "ABCDEFGHIJKLMNOPQ", "BRK A", "A/B", "ÄBC", "\xa0JPM", "JPM\x0b"],
        ),
        (
            SIDE_NAME_PATTERN,
            ["Buy", "buy", "SELL", "sElL", " sell\n"],
            ["", "x", "Bid", "0", "1", "\xa0buy", "buys"],
        ),
        (ACCOUNT_PATTERN, ["desk-7", "A.b_c", "x" * 64], ["", "x" * 65, "a#b", "a b", "desk\n"]),
        (KEY_NAME_PATTERN, ["", "algo 1", "Zürich €"], ["tab\there", "line\nbreak", "\x85"]),
    ],
)
def test_each_pattern_accepts_exactly_what_its_check_accepts(
    pattern: str, accepted: list[str], rejected: list[str]
) -> None:
    check = {
        SYMBOL_INPUT_PATTERN: normalize_symbol,
        SIDE_NAME_PATTERN: parse_side,
        ACCOUNT_PATTERN: check_account,
        KEY_NAME_PATTERN: check_key_name,
    }[pattern]
    for value in accepted:
        assert re.fullmatch(pattern, value), value
        check(value)
    for value in rejected:
        assert not re.fullmatch(pattern, value), value
        with pytest.raises(InvalidValue):
            check(value)


@given(text=st.text(alphabet=st.sampled_from(" \t\n\r\x0b\xa0aBuYsElL09.-_/#"), max_size=20))
def test_symbol_and_side_checks_agree_with_their_patterns_on_any_text(text: str) -> None:
    for pattern, check in (
        (SYMBOL_INPUT_PATTERN, normalize_symbol),
        (SIDE_NAME_PATTERN, parse_side),
    ):
        matches = re.fullmatch(pattern, text) is not None
        try:
            check(text)
            accepted = True
        except InvalidValue:
            accepted = False
        assert matches == accepted, (pattern, text)


def test_canonical_symbol_matches_the_stored_symbol_pattern() -> None:
    assert re.fullmatch(SYMBOL_PATTERN, normalize_symbol(" brk.a "))


# --- text cells (CSV): the same rules, read from text ----------------------------------------


@pytest.mark.parametrize(
    ("text", "side"),
    [("0", Side.BUY), ("1", Side.SELL), (" 1 ", Side.SELL), ("Buy", Side.BUY), ("SELL", Side.SELL)],
)
def test_side_text_accepts_digits_and_names(text: str, side: Side) -> None:
    assert parse_side_text(text) is side


@pytest.mark.parametrize("text", ["", "2", "-1", "1.0", "00", "hold", "B"])
def test_side_text_rejects_anything_else(text: str) -> None:
    with pytest.raises(InvalidValue, match="must be Buy, Sell, 0 or 1"):
        parse_side_text(text)


def test_order_id_amount_and_price_text_apply_the_rules_of_their_checks() -> None:
    assert parse_order_id_text(" 42 ") == 42
    assert parse_amount_text("9007199254740991") == MAX_AMOUNT
    assert str(parse_price_text("20.50")) == "20.5"
    for parse, text in [
        (parse_order_id_text, "0"),
        (parse_order_id_text, "99999999999999999999999999999999999999999999"),
        (parse_amount_text, "10.0"),
        (parse_amount_text, "9007199254740992"),
        (parse_price_text, "0.000000001"),
        (parse_price_text, "1e5"),
    ]:
        with pytest.raises(InvalidValue):
            parse(text)


def test_an_integer_too_long_for_the_text_form_is_reported_as_out_of_range() -> None:
    with pytest.raises(InvalidValue, match="from 1 to"):
        parse_amount_text("1" * 45)
