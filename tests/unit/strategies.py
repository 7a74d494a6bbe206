"""Hypothesis strategies for the contract's values, shared by the unit tests."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from hypothesis import strategies as st

from shared.models import Order, Side
from shared.validation import MAX_AMOUNT, MAX_ORDER_ID

PRICE_UNITS_PER_ONE = 10**8
MAX_PRICE_UNITS = 10**12 * PRICE_UNITS_PER_ONE
GENERATOR_ID = "0000abcd"


def price_from_units(units: int, *, normalized: bool = False) -> Decimal:
    """The price of `units` 1e-8 steps, written with 8 decimals or in normalized (exponent) form."""
    price = Decimal(units).scaleb(-8)
    return price.normalize() if normalized else price


def stamp(tick: int) -> str:
    """A time-priority stamp in the layout of `shared.sequence`."""
    return f"{tick:019d}.{GENERATOR_ID}"


# Boundaries worth hitting every run: the extremes, the sample data's 510500, and both sides of
# 10,000,000 (where the original system's 7-digit price padding broke).
_EDGE_UNITS = [
    1,
    2,
    PRICE_UNITS_PER_ONE,
    510_500 * PRICE_UNITS_PER_ONE,
    10_000_000 * PRICE_UNITS_PER_ONE - 1,
    10_000_000 * PRICE_UNITS_PER_ONE,
    10_000_000 * PRICE_UNITS_PER_ONE + 1,
    12_345_678_901_212_345_678,
    MAX_PRICE_UNITS - 1,
    MAX_PRICE_UNITS,
]

price_units = st.one_of(
    st.sampled_from(_EDGE_UNITS),
    st.integers(1, MAX_PRICE_UNITS),
    st.integers(10_000_000 * PRICE_UNITS_PER_ONE, MAX_PRICE_UNITS),
    st.integers(1, 10**12).map(lambda whole: whole * PRICE_UNITS_PER_ONE),
)

prices = st.builds(price_from_units, price_units, normalized=st.booleans())
"""Valid prices: > 0, ≤ 1e12, at most 8 decimals, in varied (but equal-valued) representations."""

sides = st.sampled_from(Side)
symbols = st.from_regex(r"[A-Z0-9._\-]{1,16}", fullmatch=True)
order_ids = st.integers(1, MAX_ORDER_ID)
amounts = st.integers(1, MAX_AMOUNT)
ticks = st.integers(0, 10**19 - 1)
sequences = ticks.map(stamp)
moments = st.datetimes(
    min_value=datetime(2000, 1, 1),
    max_value=datetime(2100, 1, 1),
    timezones=st.just(UTC),
)

accounts = st.from_regex(r"[A-Za-z0-9._\-]{1,64}", fullmatch=True)
tokens = st.from_regex(r"[0-9a-f]{16}", fullmatch=True)

orders = st.builds(
    Order,
    id=order_ids,
    symbol=symbols,
    side=sides,
    amount=amounts,
    price=prices,
    sequence=sequences,
    version=st.integers(1, 2**31),
    created_at=moments,
    updated_at=moments,
    account=accounts,
    token=tokens,
)
