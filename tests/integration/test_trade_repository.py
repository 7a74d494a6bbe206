"""The trade transaction's conflict reporting, which the desk's re-planning relies on."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from shared.book import Fill, RestingOrder
from shared.models import OrderDraft, Side, Trade, TradeFill
from shared.repository import OrderRepository
from shared.repository.trades import TradeConflict, TradeRepository
from tests.conftest import Store


def trade_of(fill: Fill) -> Trade:
    return Trade(
        id="f" * 32,
        symbol="JPM",
        side=Side.BUY,
        amount=fill.amount,
        price=fill.price,
        fills=(TradeFill(fill.order_id, fill.amount, fill.price),),
        timestamp=datetime(2024, 5, 16, tzinfo=UTC),
    )


def test_failed_version_check_reports_the_current_order(store: Store) -> None:
    # The desk treats "no item in the cancellation reason" as "order gone", so both engines must
    # return the current item (ALL_OLD) whenever it still exists.
    orders = OrderRepository(store.clients.dynamodb, store.settings.table_name)
    orders.create(OrderDraft(1, "JPM", Side.BUY, 20, Decimal(20)))
    orders.amend(1, amount=5, price=None)  # version 2
    stale = Fill(order_id=1, amount=3, price=Decimal(20), remaining=17, version=1)
    trades = TradeRepository(store.clients.dynamodb, store.settings.table_name)
    with pytest.raises(TradeConflict) as conflict:
        trades.execute(trade_of(stale), [stale])
    assert conflict.value.observed == {1: RestingOrder(1, 5, Decimal(20), 2)}
    assert orders.get(1).amount == 5


def test_failed_version_check_on_a_deleted_order_reports_it_gone(store: Store) -> None:
    orders = OrderRepository(store.clients.dynamodb, store.settings.table_name)
    orders.create(OrderDraft(1, "JPM", Side.BUY, 20, Decimal(20)))
    orders.delete(1)
    stale = Fill(order_id=1, amount=20, price=Decimal(20), remaining=0, version=1)
    trades = TradeRepository(store.clients.dynamodb, store.settings.table_name)
    with pytest.raises(TradeConflict) as conflict:
        trades.execute(trade_of(stale), [stale])
    assert conflict.value.observed == {1: None}
