"""Book keys: one ascending string sort of GSI1SK must be the book's walk order, on both sides."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from shared import keys
from shared.models import Side
from tests.unit.strategies import (
    MAX_PRICE_UNITS,
    order_ids,
    price_from_units,
    price_units,
    prices,
    sequences,
    sides,
    stamp,
    symbols,
    ticks,
)

MIN_PRICE = Decimal("0.00000001")
MAX_PRICE = Decimal("1000000000000")


def walk_rank(side: Side, price: Decimal, sequence: str) -> tuple[Decimal, str]:
    """Where the contract says an order comes in its book's walk: best price first, then FIFO."""
    return (price if side is Side.BUY else -price, sequence)


# --- the walk-order property ------------------------------------------------------------------


@given(
    side=sides,
    first=st.tuples(prices, ticks),
    second=st.tuples(prices, ticks),
)
@example(side=Side.BUY, first=(MIN_PRICE, 5), second=(MAX_PRICE, 1))
@example(side=Side.SELL, first=(MIN_PRICE, 5), second=(MAX_PRICE, 1))
@example(side=Side.BUY, first=(Decimal(510500), 1), second=(Decimal(10_000_000), 2))
@example(side=Side.SELL, first=(Decimal(510500), 1), second=(Decimal(10_000_000), 2))
@example(side=Side.SELL, first=(Decimal("20"), 2), second=(Decimal("2E+1"), 1))
def test_book_key_order_equals_walk_order_for_any_two_orders(
    side: Side, first: tuple[Decimal, int], second: tuple[Decimal, int]
) -> None:
    (price_a, tick_a), (price_b, tick_b) = first, second
    if tick_a == tick_b:
        tick_b = (tick_a + 1) % 10**19  # two orders never share a stamp
    a = (price_a, stamp(tick_a))
    b = (price_b, stamp(tick_b))
    keys_say_a_first = keys.book_sk(side, *a) < keys.book_sk(side, *b)
    walk_says_a_first = walk_rank(side, *a) < walk_rank(side, *b)
    assert keys_say_a_first == walk_says_a_first


@given(
    side=sides,
    book=st.lists(st.tuples(prices, ticks), min_size=2, max_size=40, unique_by=lambda o: o[1]),
)
def test_sorting_a_book_by_key_gives_its_walk_order(
    side: Side, book: list[tuple[Decimal, int]]
) -> None:
    entries = [(price, stamp(tick)) for price, tick in book]
    by_key = sorted(entries, key=lambda entry: keys.book_sk(side, *entry))
    by_walk = sorted(entries, key=lambda entry: walk_rank(side, *entry))
    assert by_key == by_walk


# --- explicit orderings -----------------------------------------------------------------------


def test_buy_book_key_puts_lower_price_first() -> None:
    cheap = keys.book_sk(Side.BUY, Decimal("20"), stamp(2))
    dear = keys.book_sk(Side.BUY, Decimal("21"), stamp(1))
    assert cheap < dear


def test_sell_book_key_puts_higher_price_first() -> None:
    cheap = keys.book_sk(Side.SELL, Decimal("20"), stamp(1))
    dear = keys.book_sk(Side.SELL, Decimal("21"), stamp(2))
    assert dear < cheap


@pytest.mark.parametrize("side", list(Side))
def test_book_key_puts_lower_sequence_first_at_equal_price(side: Side) -> None:
    older = keys.book_sk(side, Decimal("20.5"), stamp(100))
    newer = keys.book_sk(side, Decimal("20.5"), stamp(101))
    assert older < newer


ASCENDING_PRICES = [
    Decimal("0.00000001"),
    Decimal("0.00000002"),
    Decimal("1"),
    Decimal("510500"),
    Decimal("9999999.99999999"),
    Decimal("10000000"),
    Decimal("10000000.00000001"),
    Decimal("123456789012.12345678"),
    Decimal("999999999999.99999999"),
    Decimal("1000000000000"),
]


def test_buy_price_keys_ascend_with_price_across_ten_million() -> None:
    price_keys = [keys.price_key(Side.BUY, price) for price in ASCENDING_PRICES]
    assert price_keys == sorted(price_keys)
    assert len(set(price_keys)) == len(price_keys)


def test_sell_price_keys_descend_with_price_across_ten_million() -> None:
    price_keys = [keys.price_key(Side.SELL, price) for price in ASCENDING_PRICES]
    assert price_keys == sorted(price_keys, reverse=True)
    assert len(set(price_keys)) == len(price_keys)


@given(side=sides, units=st.integers(1, MAX_PRICE_UNITS - 1))
@example(side=Side.BUY, units=MAX_PRICE_UNITS - 1)
@example(side=Side.SELL, units=MAX_PRICE_UNITS - 1)
@example(side=Side.SELL, units=1)
def test_price_key_separates_prices_one_smallest_step_apart(side: Side, units: int) -> None:
    lower = keys.price_key(side, price_from_units(units))
    higher = keys.price_key(side, price_from_units(units + 1))
    assert (lower < higher) if side is Side.BUY else (higher < lower)


# --- layout -----------------------------------------------------------------------------------


@given(side=sides, price=prices)
def test_price_key_is_always_twenty_one_digits(side: Side, price: Decimal) -> None:
    key = keys.price_key(side, price)
    assert len(key) == 21
    assert key.isdigit()


@given(side=sides, price=prices, sequence=sequences)
def test_book_key_has_fixed_width_for_fixed_width_sequences(
    side: Side, price: Decimal, sequence: str
) -> None:
    assert len(keys.book_sk(side, price, sequence)) == 21 + 1 + len(sequence)


@given(side=sides, price=prices, sequence=sequences)
def test_book_key_is_price_key_then_sequence(side: Side, price: Decimal, sequence: str) -> None:
    assert keys.book_sk(side, price, sequence) == f"{keys.price_key(side, price)}#{sequence}"


@pytest.mark.parametrize(
    ("side", "price", "expected"),
    [
        (Side.BUY, MIN_PRICE, "000000000000000000001"),
        (Side.BUY, MAX_PRICE, "100000000000000000000"),
        (Side.SELL, MAX_PRICE, "000000000000000000000"),
        (Side.SELL, MIN_PRICE, "099999999999999999999"),
        (Side.BUY, Decimal("20"), "000000000002000000000"),
        (Side.SELL, Decimal("20"), "099999999998000000000"),
    ],
)
def test_price_key_is_price_in_hundred_millionths_complemented_for_sell(
    side: Side, price: Decimal, expected: str
) -> None:
    assert keys.price_key(side, price) == expected


@pytest.mark.parametrize("side", list(Side))
@pytest.mark.parametrize(
    "same_price",
    [Decimal("20.00000000"), Decimal("20.0"), Decimal("2E+1"), Decimal("0.2E+2")],
    ids=str,
)
def test_price_key_depends_on_value_not_representation(side: Side, same_price: Decimal) -> None:
    assert keys.price_key(side, same_price) == keys.price_key(side, Decimal(20))


@given(side=sides, units=price_units)
def test_price_key_of_normalized_and_scaled_forms_agree(side: Side, units: int) -> None:
    plain = keys.price_key(side, price_from_units(units))
    assert keys.price_key(side, price_from_units(units, normalized=True)) == plain


# --- prices that cannot be encoded ------------------------------------------------------------


@pytest.mark.parametrize("side", list(Side))
@pytest.mark.parametrize(
    "price",
    [
        Decimal("0"),
        Decimal("-0"),
        Decimal("-1"),
        Decimal("-0.00000001"),
        Decimal("0.000000001"),
        Decimal("20.123456789"),
        Decimal("1000000000000.00000001"),
        Decimal("1000000000001"),
        Decimal("1E+13"),
        Decimal("NaN"),
        Decimal("Infinity"),
        Decimal("-Infinity"),
    ],
    ids=str,
)
def test_price_key_rejects_prices_outside_the_encodable_range(side: Side, price: Decimal) -> None:
    with pytest.raises(ValueError):
        keys.price_key(side, price)


@pytest.mark.parametrize("side", list(Side))
@pytest.mark.parametrize(
    "price",
    [
        # 30 and 38 significant digits: more than the default decimal context's 28, so
        # `price * 1e8` rounds to an integer before the check and the extra decimals are lost.
        Decimal("1.00000000000000000000000000001"),
        Decimal("999999999999.99999999999999999999999999"),
    ],
    ids=str,
)
def test_price_key_rejects_excess_decimals_beyond_decimal_context_precision(
    side: Side, price: Decimal
) -> None:
    with pytest.raises(ValueError):
        keys.price_key(side, price)


# --- partition keys ---------------------------------------------------------------------------


@given(a=st.tuples(symbols, sides), b=st.tuples(symbols, sides))
@example(a=("JPM", Side.BUY), b=("JPM", Side.SELL))
def test_book_pk_is_distinct_per_symbol_and_side(a: tuple[str, Side], b: tuple[str, Side]) -> None:
    assert (keys.book_pk(*a) == keys.book_pk(*b)) == (a == b)


def test_book_pk_names_symbol_and_side_number() -> None:
    assert keys.book_pk("JPM", Side.BUY) == "BOOK#JPM#0"
    assert keys.book_pk("BRK.A", Side.SELL) == "BOOK#BRK.A#1"


@given(a=order_ids, b=order_ids)
def test_order_pk_is_distinct_per_id(a: int, b: int) -> None:
    assert (keys.order_pk(a) == keys.order_pk(b)) == (a == b)


def test_order_keys_follow_the_table_layout() -> None:
    assert keys.order_pk(42) == "ORDER#42"
    assert keys.order_sk() == "ORDER"


def test_record_partition_keys_carry_their_entity_prefix() -> None:
    assert keys.trade_pk("t-1") == "TRADE#t-1"
    assert keys.load_pk("l-1") == "LOAD#l-1"
    assert keys.idempotency_pk("desk-7", "k-1") == "IDEMP#desk-7#k-1"
    assert keys.api_key_pk("00ff") == "APIKEY#00ff"


def test_partition_keys_of_different_entities_never_collide() -> None:
    partition_keys = {
        keys.order_pk(7),
        keys.trade_pk("7"),
        keys.load_pk("7"),
        keys.idempotency_pk("7", "7"),
        keys.api_key_pk("7"),
        keys.HEALTH_PROBE,
    }
    assert len(partition_keys) == 6
