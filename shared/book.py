"""The book walk: price–time priority over resting orders, as a pure function.

A quote and a trade for `(symbol, side, amount)` walk the same-side book best first (the order
the GSI1 Query returns) and take from each order until the amount is covered. Sums are exact:
an amount up to 2^53−1 times a price up to 1e12 with 8 decimals needs ~36 significant digits, more
than the default decimal context's 28, so the arithmetic runs in a 60-digit context that cannot
round (DynamoDB numbers hold 38 digits).
"""

from __future__ import annotations

import decimal
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

_EXACT = decimal.Context(prec=60, traps=[decimal.Inexact, decimal.Overflow])


@dataclass(frozen=True, slots=True)
class RestingOrder:
    """What the walk needs of a resting order; `version` lets a trade detect a stale read."""

    id: int
    amount: int
    price: Decimal
    version: int


@dataclass(frozen=True, slots=True)
class Fill:
    """An amount taken from one resting order at its price."""

    order_id: int
    amount: int
    price: Decimal
    remaining: int
    version: int

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
            )
        )
        still_needed -= taken
        if still_needed == 0:
            break
    return BookWalk(requested=amount, fills=tuple(fills))
