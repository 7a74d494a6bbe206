"""The group transaction and its cancellation reporting, which the desk's re-planning relies on."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from shared.book import Fill, RestingOrder
from shared.models import Order, OrderDraft, Side, Trade, TradeFill
from shared.repository import OrderRepository
from shared.repository.idempotency import IdempotencyStore, trade_fingerprint
from shared.repository.trades import GroupCancelled, PlannedTrade, TradeRepository
from tests.conftest import Store

AT = datetime(2024, 5, 16, tzinfo=UTC)


def trade_of(*fills: Fill, trade_id: str = "f" * 32) -> Trade:
    return Trade(
        id=trade_id,
        symbol="JPM",
        side=Side.BUY,
        amount=sum(fill.amount for fill in fills),
        price=sum((fill.amount * fill.price for fill in fills), Decimal(0)),
        fills=tuple(TradeFill(fill.order_id, fill.amount, fill.price) for fill in fills),
        timestamp=AT,
        account="taker",
    )


def fill_of(order: Order, amount: int, *, remaining: int | None = None) -> Fill:
    return Fill(
        order_id=order.id,
        amount=amount,
        price=order.price,
        remaining=order.amount - amount if remaining is None else remaining,
        version=order.version,
        token=order.token,
    )


@pytest.fixture
def orders(store: Store) -> OrderRepository:
    return OrderRepository(store.clients.dynamodb, store.settings.table_name)


@pytest.fixture
def trades(store: Store) -> TradeRepository:
    return TradeRepository(store.clients.dynamodb, store.settings.table_name)


def test_failed_guard_reports_the_current_order(
    orders: OrderRepository, trades: TradeRepository
) -> None:
    # The desk treats "no item in the cancellation reason" as "order gone", so both engines must
    # return the current item (ALL_OLD) whenever it still exists.
    created = orders.create(OrderDraft(1, "JPM", Side.BUY, 20, Decimal(20)), account="maker")
    amended = orders.amend(1, amount=5, price=None)
    stale = fill_of(created, 3)
    with pytest.raises(GroupCancelled) as cancelled:
        trades.settle([PlannedTrade(trade_of(stale), (stale,))])
    assert cancelled.value.observed == {
        1: RestingOrder(1, 5, Decimal(20), amended.version, amended.token)
    }
    assert orders.get(1).amount == 5


def test_failed_guard_on_a_deleted_order_reports_it_gone(
    orders: OrderRepository, trades: TradeRepository
) -> None:
    created = orders.create(OrderDraft(1, "JPM", Side.BUY, 20, Decimal(20)), account="maker")
    orders.delete(1)
    stale = fill_of(created, 20)
    with pytest.raises(GroupCancelled) as cancelled:
        trades.settle([PlannedTrade(trade_of(stale), (stale,))])
    assert cancelled.value.observed == {1: None}


def test_a_recreated_order_is_never_filled_through_a_read_of_its_earlier_incarnation(
    orders: OrderRepository, trades: TradeRepository
) -> None:
    # Same id, same version 1 after delete + create: only the token tells them apart.
    old = orders.create(OrderDraft(1, "JPM", Side.BUY, 20, Decimal(20)), account="maker")
    orders.delete(1)
    new = orders.create(OrderDraft(1, "JPM", Side.BUY, 20, Decimal(99)), account="maker")
    assert new.version == old.version
    stale = fill_of(old, 20)
    with pytest.raises(GroupCancelled):
        trades.settle([PlannedTrade(trade_of(stale), (stale,))])
    assert orders.get(1) == new


def test_fills_of_one_order_by_several_trades_become_one_write(
    orders: OrderRepository, trades: TradeRepository
) -> None:
    order = orders.create(OrderDraft(1, "JPM", Side.BUY, 20, Decimal(20)), account="maker")
    first = fill_of(order, 5)
    second = Fill(1, 7, order.price, 8, order.version, order.token)  # planned after `first`
    trades.settle(
        [
            PlannedTrade(trade_of(first, trade_id="a" * 32), (first,)),
            PlannedTrade(trade_of(second, trade_id="b" * 32), (second,)),
        ]
    )
    after = orders.get(1)
    assert (after.amount, after.version, after.token) == (8, order.version + 1, order.token)
    assert set(trades.find(["a" * 32, "b" * 32])) == {"a" * 32, "b" * 32}


def test_settling_a_trade_again_is_refused_and_reports_its_record(
    orders: OrderRepository, trades: TradeRepository
) -> None:
    # A commit whose response was lost: the re-planned attempt carries the same trade id.
    order = orders.create(OrderDraft(1, "JPM", Side.BUY, 20, Decimal(20)), account="maker")
    fill = fill_of(order, 5)
    trades.settle([PlannedTrade(trade_of(fill), (fill,))])
    again = fill_of(orders.get(1), 5)
    with pytest.raises(GroupCancelled) as cancelled:
        trades.settle([PlannedTrade(trade_of(again), (again,))])
    assert cancelled.value.recorded == {"f" * 32}
    assert orders.get(1).amount == 15


def test_a_claim_taken_over_cancels_the_trade_and_is_reported(
    store: Store, orders: OrderRepository, trades: TradeRepository
) -> None:
    idempotency = IdempotencyStore(store.clients.dynamodb, store.settings.table_name)
    claim = idempotency.claim("taker", "k-1", trade_fingerprint("JPM", Side.BUY, 5), AT)
    assert not isinstance(claim, type(None))
    idempotency.release(claim)  # as if our lease ran out and another request took the key
    order = orders.create(OrderDraft(1, "JPM", Side.BUY, 20, Decimal(20)), account="maker")
    fill = fill_of(order, 5)
    with pytest.raises(GroupCancelled) as cancelled:
        trades.settle([PlannedTrade(trade_of(fill), (fill,), claim)])  # type: ignore[arg-type]
    assert cancelled.value.lost_claims == {"f" * 32}
    assert orders.get(1).amount == 20
