"""The book walk: price–time priority over resting orders, as a pure function.

A quote and a trade for `(symbol, side, amount)` walk the same-side book best first (the order
the GSI1 Query returns) and take from each order until the amount is covered. Sums are exact:
an amount up to 2^53−1 times a price up to 1e12 with 8 decimals needs ~36 significant digits, more
than the default decimal context's 28, so the arithmetic runs in a 60-digit context that cannot
round (DynamoDB numbers hold 38 digits).
"""

from __future__ import annotations

import decimal
import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from decimal import Decimal

_EXACT = decimal.Context(prec=60, traps=[decimal.Inexact, decimal.Overflow])


@dataclass(frozen=True, slots=True)
class RestingOrder:
    """What the walk needs of a resting order; `token` and `version` expose a stale read."""

    id: int
    amount: int
    price: Decimal
    version: int
    token: str


@dataclass(frozen=True, slots=True)
class Fill:
    """An amount taken from one resting order at its price."""

    order_id: int
    amount: int
    price: Decimal
    remaining: int
    version: int
    token: str

    @property
    def exhausts_order(self) -> bool:
        """True when the order has nothing left and leaves the book."""
        return self.remaining == 0


@dataclass(frozen=True, slots=True)
class BookWalk:
    """The outcome of walking a book for `requested`: the fills and what they cost."""

    requested: int
    fills: tuple[Fill, ...]

    @property
    def filled(self) -> int:
        """How much the fills cover."""
        return sum(fill.amount for fill in self.fills)

    @property
    def complete(self) -> bool:
        """True when the whole requested amount is covered."""
        return self.filled == self.requested

    @property
    def price(self) -> Decimal:
        """Σ (amount taken × that order's price), exact."""
        return total_price(self.fills)


def total_price(fills: Iterable[Fill]) -> Decimal:
    """Σ amount × price, computed without rounding."""
    total = Decimal(0)
    for fill in fills:
        total = _EXACT.add(total, _EXACT.multiply(Decimal(fill.amount), fill.price))
    return total


def walk_book(orders: Iterable[RestingOrder], amount: int) -> BookWalk:
    """Take `amount` from `orders` (already in walk order), best first, FIFO within a price.

    Consumes `orders` lazily and stops as soon as the amount is covered, so a caller can feed it
    pages read on demand. A book too thin to cover the amount gives an incomplete walk.
    """
    if amount < 1:
        raise ValueError("amount must be positive")
    fills: list[Fill] = []
    still_needed = amount
    for order in orders:
        if order.amount <= 0:
            continue
        taken = min(order.amount, still_needed)
        fills.append(
            Fill(
                order_id=order.id,
                amount=taken,
                price=order.price,
                remaining=order.amount - taken,
                version=order.version,
                token=order.token,
            )
        )
        still_needed -= taken
        if still_needed == 0:
            break
    return BookWalk(requested=amount, fills=tuple(fills))


class BookCursor:
    """Walks one book for several trades in turn, each taking from what the earlier ones left.

    Trades planned together (group commit) must be planned exactly as if they ran one after
    another: trade k sees the book as trades 1 … k-1 leave it. The cursor reads `orders` (walk
    order) lazily, remembers what each planned trade took, and offers the next trade the
    remainder. `walk` only looks; `take` applies a walk. Pure: no I/O of its own.
    """

    def __init__(self, orders: Iterable[RestingOrder]) -> None:
        self._source = iter(orders)
        self._orders: list[RestingOrder] = []
        self._left: dict[int, int] = {}

    def walk(self, amount: int, *, max_orders: int) -> BookWalk:
        """The walk `amount` would make now, over at most `max_orders + 1` orders.

        One order more than `max_orders` lets the caller tell a trade that needs too many orders
        from one that fits exactly.
        """
        return walk_book(itertools.islice(self._remaining(), max_orders + 1), amount)

    def take(self, walk: BookWalk) -> None:
        """Apply `walk` (made by `walk` since the last `take`): its fills leave the book."""
        for fill in walk.fills:
            self._left[fill.order_id] = fill.remaining

    def _remaining(self) -> Iterator[RestingOrder]:
        index = 0
        while True:
            if index == len(self._orders):
                fetched = next(self._source, None)
                if fetched is None:
                    return
                if fetched.id in self._left:
                    continue  # an index mid-update may list an order twice: it rests once
                self._orders.append(fetched)
                self._left[fetched.id] = fetched.amount
            order = self._orders[index]
            index += 1
            left = self._left[order.id]
            if left > 0:
                yield order if left == order.amount else replace(order, amount=left)
