"""The order books against a reference model, on moto and DynamoDB Local.

A hypothesis state machine creates, amends and deletes orders, quotes and trades (with and without
an idempotency key) through the repositories and the trade desk, and mirrors every step in a plain
in-memory model of the contract: price–time priority with a per-order sequence number, where
create, a price change or an amount increase take a new (later) number and an amount decrease or
a partial fill keep theirs. After every step each book read from GSI1 must equal the model's book
in walk order.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from shared.errors import IdempotencyMismatch, OrderAlreadyExists, OrderNotFound
from shared.models import BookEntry, Order, OrderDraft, Side, TradeOutcome
from shared.repository import OrderRepository
from shared.repository.books import BookReader
from shared.repository.idempotency import IdempotencyStore
from shared.repository.trades import TradeRepository
from shared.trading import MAX_ORDERS_PER_TRADE, TradeDesk
from shared.validation import MAX_AMOUNT, MAX_ORDER_ID
from tests.conftest import Store

SYMBOLS = ("JPM", "AAPL")
ACCOUNT = "model"
# Few prices, so levels collide: equal values written differently (20.5 / 20.50) share a level.
PRICES = tuple(
    Decimal(text)
    for text in (
        "20",
        "21",
        "20.5",
        "20.50",
        "0.00000001",
        "510500",
        "999999999999.99999999",
        "1000000000000",
    )
)
BULK_IDS_FROM = 1_000

symbols = st.sampled_from(SYMBOLS)
sides = st.sampled_from(Side)
# Half the draws from three levels, so orders often share a level with older and newer orders.
prices = st.one_of(st.sampled_from(PRICES[:3]), st.sampled_from(PRICES))
amounts = st.one_of(st.integers(1, 30), st.just(MAX_AMOUNT))
order_ids = st.one_of(st.integers(1, 24), st.just(MAX_ORDER_ID))
idempotency_keys = st.sampled_from(["key-a", "key-b"])

# ~400 steps per engine: about 15–30 s each on a 2-core machine (moto is the slower engine).
MACHINE_SETTINGS = settings(
    max_examples=10,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@dataclass(frozen=True)
class ModelOrder:
    """A resting order as the model sees it; `place` is its time priority (smaller = older)."""

    symbol: str
    side: Side
    amount: int
    price: Decimal
    place: int


@dataclass(frozen=True)
class ModelFill:
    order_id: int
    amount: int
    price: Decimal


def exact_total(fills: list[ModelFill]) -> Decimal:
    """Σ amount × price in Python integers of 1e-8 units (no decimal context to round it)."""
    units = sum(fill.amount * int(fill.price.scaleb(8).to_integral_exact()) for fill in fills)
    whole, fraction = divmod(units, 10**8)
    return Decimal(f"{whole}.{fraction:08d}")


def clear_table(store: Store) -> None:
    """Delete every item of the test's table, so each example starts from an empty store."""
    client = store.clients.dynamodb
    table = store.settings.table_name
    for page in client.get_paginator("scan").paginate(
        TableName=table, ProjectionExpression="PK, SK"
    ):
        items = page["Items"]
        for start in range(0, len(items), 25):
            requests: Any = {
                table: [{"DeleteRequest": {"Key": key}} for key in items[start : start + 25]]
            }
            while requests:
                requests = client.batch_write_item(RequestItems=requests)["UnprocessedItems"]
    assert client.scan(TableName=table, Select="COUNT")["Count"] == 0


def test_books_follow_price_time_priority_like_the_reference_model(store: Store) -> None:
    client = store.clients.dynamodb
    table = store.settings.table_name

    class BookMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            clear_table(store)
            self.orders = OrderRepository(client, table)
            self.books = BookReader(client, table)
            self.desk = TradeDesk(
                self.books, TradeRepository(client, table), IdempotencyStore(client, table)
            )
            self.model: dict[int, ModelOrder] = {}
            self.places = itertools.count()
            self.bulk_ids = itertools.count(BULK_IDS_FROM)
            self.remembered: dict[str, tuple[tuple[str, Side, int], TradeOutcome]] = {}

        # --- the model ---------------------------------------------------------------------------

        def model_book(self, symbol: str, side: Side) -> list[tuple[int, ModelOrder]]:
            resting = [
                (i, o) for i, o in self.model.items() if (o.symbol, o.side) == (symbol, side)
            ]
            best_first = 1 if side == Side.BUY else -1
            return sorted(resting, key=lambda entry: (best_first * entry[1].price, entry[1].place))

        def model_walk(self, symbol: str, side: Side, amount: int) -> tuple[list[ModelFill], bool]:
            fills: list[ModelFill] = []
            needed = amount
            for order_id, order in self.model_book(symbol, side):
                if needed == 0:
                    break
                taken = min(order.amount, needed)
                fills.append(ModelFill(order_id, taken, order.price))
                needed -= taken
            return fills, needed == 0

        def draw_order_id(self, data: st.DataObject) -> int:
            """Mostly an id that rests in the book; sometimes any id, which may be missing."""
            if self.model and data.draw(st.booleans(), label="existing"):
                return data.draw(st.sampled_from(sorted(self.model)), label="order_id")
            return data.draw(order_ids, label="order_id")

        def draw_book(self, data: st.DataObject) -> tuple[str, Side]:
            """Mostly a book with orders in it; sometimes any book, which may be empty."""
            stocked = sorted({(order.symbol, order.side) for order in self.model.values()})
            if stocked and data.draw(st.integers(0, 7), label="stocked") > 0:
                return data.draw(st.sampled_from(stocked), label="book")
            return data.draw(st.tuples(symbols, sides), label="book")

        def draw_walk_amount(self, data: st.DataObject, symbol: str, side: Side) -> int:
            """A small amount, the largest, around all the book holds, or one ending mid-order."""
            book = self.model_book(symbol, side)
            held = sum(order.amount for _, order in book)
            around_held = [n for n in (held - 1, held, held + 1) if 1 <= n <= MAX_AMOUNT]
            choices = [
                st.integers(1, 40),
                st.just(MAX_AMOUNT),
                st.sampled_from(around_held or [MAX_AMOUNT]),
            ]
            # Ending inside an order with a newer one behind it at its price shows whether a
            # partial fill keeps the order's place.
            before, inside = 0, []
            for (_, order), (_, behind) in itertools.pairwise(book):
                if order.amount > 1 and order.price == behind.price and before < MAX_AMOUNT:
                    inside.append(st.integers(1, order.amount - 1).map(before.__add__))
                before += order.amount
            if inside:  # twice: the likeliest way for a FIFO slip to show
                choices += [st.one_of(inside).filter(lambda n: n <= MAX_AMOUNT)] * 2
            return data.draw(st.one_of(choices), label="amount")

        def place(
            self, order_id: int, symbol: str, side: Side, amount: int, price: Decimal
        ) -> None:
            """Create the order in the store and at the back of its level in the model."""
            draft = OrderDraft(id=order_id, symbol=symbol, side=side, amount=amount, price=price)
            created = self.orders.create(draft, account=ACCOUNT)
            self.model[order_id] = ModelOrder(symbol, side, amount, price, next(self.places))
            self.assert_matches_model(created, order_id)

        def assert_matches_model(self, order: Order, order_id: int) -> None:
            expected = self.model[order_id]
            assert (order.id, order.symbol, order.side, order.amount, order.price) == (
                order_id,
                expected.symbol,
                expected.side,
                expected.amount,
                expected.price,
            )

        # --- rules -------------------------------------------------------------------------------

        @initialize(
            seed=st.lists(st.tuples(symbols, sides, st.integers(1, 30), prices), max_size=16)
        )
        def seed_books(self, seed: list[tuple[str, Side, int, Decimal]]) -> None:
            for symbol, side, amount, price in seed:
                self.place(next(self.bulk_ids), symbol, side, amount, price)

        @rule(order_id=order_ids, symbol=symbols, side=sides, amount=amounts, price=prices)
        def create(
            self, order_id: int, symbol: str, side: Side, amount: int, price: Decimal
        ) -> None:
            draft = OrderDraft(id=order_id, symbol=symbol, side=side, amount=amount, price=price)
            if order_id in self.model:
                with pytest.raises(OrderAlreadyExists):
                    self.orders.create(draft, account=ACCOUNT)
                return
            self.place(order_id, symbol, side, amount, price)

        @rule(
            symbol=symbols,
            side=sides,
            price=prices,
            count=st.integers(2, 20),
            first_size=st.integers(1, 5),
        )
        def create_several_at_one_price(
            self, symbol: str, side: Side, price: Decimal, count: int, first_size: int
        ) -> None:
            # Deep levels of small orders (sizes cycle through 1..5) make walks read several pages.
            for k in range(count):
                amount = (first_size - 1 + k) % 5 + 1
                self.place(next(self.bulk_ids), symbol, side, amount, price)

        @rule(data=st.data())
        def amend(self, data: st.DataObject) -> None:
            order_id = self.draw_order_id(data)
            current = self.model.get(order_id)
            amount_choices = (
                amounts if current is None else amounts | st.integers(1, current.amount)
            )
            amount, price = data.draw(
                st.tuples(st.none() | amount_choices, st.none() | prices).filter(
                    lambda change: change != (None, None)
                ),
                label="amount, price",
            )
            if current is None:
                with pytest.raises(OrderNotFound):
                    self.orders.amend(order_id, amount=amount, price=price)
                return
            amended = self.orders.amend(order_id, amount=amount, price=price)
            new_amount = current.amount if amount is None else amount
            new_price = current.price if price is None else price
            loses_place = new_price != current.price or new_amount > current.amount
            self.model[order_id] = replace(
                current,
                amount=new_amount,
                price=new_price,
                place=next(self.places) if loses_place else current.place,
            )
            self.assert_matches_model(amended, order_id)

        @precondition(lambda self: any(order.amount > 1 for order in self.model.values()))
        @rule(data=st.data())
        def reduce_amount(self, data: st.DataObject) -> None:
            # Only observable for an order with a newer one behind it in its level: prefer those.
            reducible = {i for i, order in self.model.items() if order.amount > 1}
            queued = {
                i
                for symbol, side in itertools.product(SYMBOLS, Side)
                for (i, order), (_, behind) in itertools.pairwise(self.model_book(symbol, side))
                if order.price == behind.price
            }
            order_id = data.draw(st.sampled_from(sorted(reducible & queued or reducible)))
            current = self.model[order_id]
            amount = data.draw(st.integers(1, current.amount - 1), label="amount")
            amended = self.orders.amend(order_id, amount=amount, price=None)
            self.model[order_id] = replace(current, amount=amount)  # keeps its place
            self.assert_matches_model(amended, order_id)

        @rule(data=st.data())
        def delete(self, data: st.DataObject) -> None:
            order_id = self.draw_order_id(data)
            if order_id not in self.model:
                with pytest.raises(OrderNotFound):
                    self.orders.delete(order_id)
                return
            removed = self.orders.delete(order_id)
            self.assert_matches_model(removed, order_id)
            del self.model[order_id]

        @rule(data=st.data())
        def quote(self, data: st.DataObject) -> None:
            symbol, side = self.draw_book(data)
            amount = self.draw_walk_amount(data, symbol, side)
            fills, complete = self.model_walk(symbol, side, amount)
            quote = self.desk.quote(symbol, side, amount)
            assert quote.successful is complete
            if complete:
                assert quote.price == exact_total(fills)
                assert quote.reason is None
            else:
                assert quote.price is None
                assert quote.reason

        def trade_like_the_model(
            self, symbol: str, side: Side, amount: int, key: str | None
        ) -> TradeOutcome:
            """Trade in the store and in the model, and compare what each did."""
            fills, complete = self.model_walk(symbol, side, amount)
            succeeds = complete and len(fills) <= MAX_ORDERS_PER_TRADE
            outcome = self.desk.trade(symbol, side, amount, account=ACCOUNT, idempotency_key=key)
            assert outcome.successful is succeeds
            if not succeeds:
                assert outcome.trade is None
                assert outcome.reason
                return outcome
            trade = outcome.trade
            assert trade is not None
            assert outcome.reason is None
            assert (trade.symbol, trade.side, trade.amount) == (symbol, side, amount)
            assert trade.price == exact_total(fills)
            assert [(f.order_id, f.amount, f.price) for f in trade.fills] == [
                (f.order_id, f.amount, f.price) for f in fills
            ]
            assert self.desk.get_trade(trade.id, viewer=ACCOUNT) == trade
            for fill in fills:
                order = self.model[fill.order_id]
                if fill.amount == order.amount:
                    del self.model[fill.order_id]
                else:  # a partial fill keeps the order's place
                    self.model[fill.order_id] = replace(order, amount=order.amount - fill.amount)
            return outcome

        @rule(data=st.data())
        def trade(self, data: st.DataObject) -> None:
            symbol, side = self.draw_book(data)
            self.trade_like_the_model(symbol, side, self.draw_walk_amount(data, symbol, side), None)

        @rule(key=idempotency_keys, data=st.data())
        def trade_with_idempotency_key(self, key: str, data: st.DataObject) -> None:
            first = self.remembered.get(key)
            if first is not None and data.draw(st.booleans(), label="repeat"):
                body = first[0]
            else:
                symbol, side = self.draw_book(data)
                body = (symbol, side, self.draw_walk_amount(data, symbol, side))
            if first is None:
                self.remembered[key] = (body, self.trade_like_the_model(*body, key))
            elif body == first[0]:
                # A repeat returns the first outcome and changes nothing, whatever the book.
                assert self.desk.trade(*body, account=ACCOUNT, idempotency_key=key) == first[1]
            else:
                with pytest.raises(IdempotencyMismatch):
                    self.desk.trade(*body, account=ACCOUNT, idempotency_key=key)

        @rule(depth=st.integers(1, 4), data=st.data())
        def view_top_of_book(self, depth: int, data: st.DataObject) -> None:
            symbol, side = self.draw_book(data)
            expected = [
                BookEntry(order_id, order.amount, order.price)
                for order_id, order in self.model_book(symbol, side)[:depth]
            ]
            assert self.books.snapshot(symbol, side, depth) == expected

        # --- invariants --------------------------------------------------------------------------

        @invariant()
        def every_book_reads_back_in_model_walk_order(self) -> None:
            for symbol, side in itertools.product(SYMBOLS, Side):
                expected = [
                    (order_id, order.amount, order.price)
                    for order_id, order in self.model_book(symbol, side)
                ]
                actual = [
                    (entry.id, entry.amount, entry.price)
                    for entry in self.books.snapshot(symbol, side, 1000)
                ]
                assert actual == expected, f"book {symbol}/{int(side)}"

    run_state_machine_as_test(BookMachine, settings=MACHINE_SETTINGS)
