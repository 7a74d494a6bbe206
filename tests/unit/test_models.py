"""Order.amended applies the time-priority rule; orders are immutable values."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.models import Order, OrderDraft, Side
from tests.unit.strategies import amounts, orders, prices

CREATED = datetime(2024, 5, 16, 10, 45, 21, 148624, tzinfo=UTC)
LATER = CREATED + timedelta(seconds=5)
OLD_SEQUENCE = "1715856321148624000.0000abcd"
NEW_SEQUENCE = "1715856326148624000.0000abcd"
OLD_TOKEN = "00000000000000aa"
NEW_TOKEN = "00000000000000bb"


@pytest.fixture
def resting() -> Order:
    return Order(
        id=1,
        symbol="JPM",
        side=Side.BUY,
        amount=20,
        price=Decimal("20"),
        sequence=OLD_SEQUENCE,
        version=3,
        created_at=CREATED,
        updated_at=CREATED,
        account="desk-7",
        token=OLD_TOKEN,
    )


def amend(order: Order, *, amount: int | None = None, price: Decimal | None = None) -> Order:
    return order.amended(
        amount=amount, price=price, next_sequence=NEW_SEQUENCE, at=LATER, token=NEW_TOKEN
    )


def test_price_change_sends_order_to_back_with_next_version(resting: Order) -> None:
    amended = amend(resting, price=Decimal("21"))
    assert amended.price == Decimal("21")
    assert amended.amount == 20
    assert amended.sequence == NEW_SEQUENCE
    assert amended.version == 4


def test_amount_increase_sends_order_to_back(resting: Order) -> None:
    amended = amend(resting, amount=25)
    assert amended.amount == 25
    assert amended.sequence == NEW_SEQUENCE
    assert amended.version == 4


def test_amount_decrease_keeps_place_but_bumps_version(resting: Order) -> None:
    amended = amend(resting, amount=5)
    assert amended.amount == 5
    assert amended.sequence == OLD_SEQUENCE
    assert amended.version == 4


def test_amount_decrease_with_price_change_still_loses_place(resting: Order) -> None:
    amended = amend(resting, amount=5, price=Decimal("19.5"))
    assert (amended.amount, amended.price) == (5, Decimal("19.5"))
    assert amended.sequence == NEW_SEQUENCE


@pytest.mark.parametrize(
    ("amount", "price"),
    [
        (None, None),
        (20, None),
        (None, Decimal("20")),
        (20, Decimal("20.000")),
        (20, Decimal("2E+1")),
    ],
    ids=["nothing", "same-amount", "same-price", "same-price-other-form", "same-price-exponent"],
)
def test_no_change_returns_the_same_order(
    resting: Order, amount: int | None, price: Decimal | None
) -> None:
    assert amend(resting, amount=amount, price=price) is resting


def test_amend_stamps_updated_at_and_keeps_created_at(resting: Order) -> None:
    amended = amend(resting, amount=5)
    assert amended.updated_at == LATER
    assert amended.created_at == CREATED


def test_amend_keeps_identity_fields(resting: Order) -> None:
    amended = amend(resting, amount=30, price=Decimal("22"))
    assert (amended.id, amended.symbol, amended.side) == (1, "JPM", Side.BUY)


def test_amend_leaves_the_original_untouched(resting: Order) -> None:
    amend(resting, amount=30, price=Decimal("22"))
    assert (resting.amount, resting.price, resting.sequence, resting.version) == (
        20,
        Decimal("20"),
        OLD_SEQUENCE,
        3,
    )


@given(order=orders, amount=st.none() | amounts, price=st.none() | prices)
def test_amend_loses_place_exactly_when_price_changes_or_amount_grows(
    order: Order, amount: int | None, price: Decimal | None
) -> None:
    amended = order.amended(
        amount=amount, price=price, next_sequence="NEXT", at=LATER, token=NEW_TOKEN
    )
    price_changed = price is not None and price != order.price
    amount_changed = amount is not None and amount != order.amount
    if not (price_changed or amount_changed):
        assert amended is order
        return
    loses_place = price_changed or (amount is not None and amount > order.amount)
    assert amended.sequence == ("NEXT" if loses_place else order.sequence)
    assert amended.version == order.version + 1
    assert amended.token == NEW_TOKEN
    assert amended.revision != order.revision
    assert amended.created_at == order.created_at
    assert amended.updated_at == LATER
    assert amended.account == order.account


def test_place_starts_a_new_order_at_version_one() -> None:
    draft = OrderDraft(id=7, symbol="MSFT", side=Side.SELL, amount=10, price=Decimal("410.25"))
    order = Order.place(draft, account="desk-7", token=OLD_TOKEN, sequence=NEW_SEQUENCE, at=CREATED)
    assert (order.id, order.symbol, order.side, order.amount, order.price) == (
        7,
        "MSFT",
        Side.SELL,
        10,
        Decimal("410.25"),
    )
    assert order.sequence == NEW_SEQUENCE
    assert order.version == 1
    assert (order.account, order.token) == ("desk-7", OLD_TOKEN)
    assert order.revision == f"{OLD_TOKEN}.1"
    assert order.created_at == order.updated_at == CREATED


def test_order_is_immutable(resting: Order) -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        resting.amount = 1  # type: ignore[misc]


def test_side_numbers_match_the_contract() -> None:
    assert (int(Side.BUY), int(Side.SELL)) == (0, 1)
