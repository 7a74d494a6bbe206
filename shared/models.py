"""Domain values: frozen dataclasses with `Decimal` money. Standard library only."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from enum import IntEnum, StrEnum

from shared.ids import unique_token


class Side(IntEnum):
    """Which book an order rests in. The book walk for side 0 starts at the lowest price."""

    BUY = 0
    SELL = 1


@dataclass(frozen=True, slots=True)
class OrderDraft:
    """What a client supplies to create an order (already validated)."""

    id: int
    symbol: str
    side: Side
    amount: int
    price: Decimal


@dataclass(frozen=True, slots=True)
class Order:
    """A resting order.

    `sequence` is its time-priority stamp inside its price level (see `shared.sequence`).
    `account` owns it. `token` is the random stamp of the write that created or last amended it,
    and `version` increases by one on every write (fills included). Together they name one state
    of one incarnation of the order: an order deleted and created again under the same id starts
    at version 1 again but never with the same token, so a guard on (token, version) cannot be
    fooled by a stale read of an earlier incarnation, and a writer that finds its own token in
    the item knows its write happened (even when the response to it was lost).
    """

    id: int
    symbol: str
    side: Side
    amount: int
    price: Decimal
    sequence: str
    version: int
    created_at: datetime
    updated_at: datetime
    account: str
    token: str

    @classmethod
    def place(
        cls, draft: OrderDraft, *, account: str, token: str, sequence: str, at: datetime
    ) -> Order:
        """A new order of `account` at the back of its price level, written by `token`."""
        return cls(
            id=draft.id,
            symbol=draft.symbol,
            side=draft.side,
            amount=draft.amount,
            price=draft.price,
            sequence=sequence,
            version=1,
            created_at=at,
            updated_at=at,
            account=account,
            token=token,
        )

    @property
    def revision(self) -> str:
        """Names this state of this incarnation; changes on every write (the HTTP ETag)."""
        return f"{self.token}.{self.version}"

    def amended(
        self,
        *,
        amount: int | None,
        price: Decimal | None,
        next_sequence: str,
        at: datetime,
        token: str,
    ) -> Order:
        """This order with a new amount and/or price, applying the time-priority rule.

        A new price, or a larger amount, sends the order to the back of its (new) price level:
        it takes `next_sequence`. A smaller amount keeps its place. The write is stamped with
        `token`. Nothing changed → `self`.
        """
        new_amount = self.amount if amount is None else amount
        new_price = self.price if price is None else price
        if new_amount == self.amount and new_price == self.price:
            return self
        loses_priority = new_price != self.price or new_amount > self.amount
        return replace(
            self,
            amount=new_amount,
            price=new_price,
            sequence=next_sequence if loses_priority else self.sequence,
            version=self.version + 1,
            updated_at=at,
            token=token,
        )


def new_write_token() -> str:
    """A random stamp for one write (64 bits: unique for every practical purpose)."""
    return unique_token(64)


@dataclass(frozen=True, slots=True)
class Precondition:
    """What a conditional request expects of an order: one of `revisions`, or any (`*`)."""

    revisions: frozenset[str] | None = None

    def holds_for(self, order: Order | None) -> bool:
        """True when `order` (None: there is none) satisfies the condition."""
        if order is None:
            return False
        return self.revisions is None or order.revision in self.revisions


@dataclass(frozen=True, slots=True)
class TradeFill:
    """One resting order's part in a trade."""

    order_id: int
    amount: int
    price: Decimal


@dataclass(frozen=True, slots=True)
class Trade:
    """An executed trade as recorded in the table; it belongs to the taker's `account`."""

    id: str
    symbol: str
    side: Side
    amount: int
    price: Decimal
    fills: tuple[TradeFill, ...]
    timestamp: datetime
    account: str


@dataclass(frozen=True, slots=True)
class TradeOutcome:
    """What a trade request produced: an executed trade, or the reason nothing changed."""

    symbol: str
    side: Side
    amount: int
    timestamp: datetime
    trade: Trade | None = None
    reason: str | None = None

    @classmethod
    def executed(cls, trade: Trade) -> TradeOutcome:
        """The outcome of a trade that executed."""
        return cls(trade.symbol, trade.side, trade.amount, trade.timestamp, trade=trade)

    @property
    def successful(self) -> bool:
        """True when the trade executed."""
        return self.trade is not None


@dataclass(frozen=True, slots=True)
class Quote:
    """The price of walking a book for an amount, or why it cannot be priced."""

    symbol: str
    side: Side
    amount: int
    timestamp: datetime
    price: Decimal | None = None
    reason: str | None = None

    @property
    def successful(self) -> bool:
        """True when the book covers the amount."""
        return self.price is not None


@dataclass(frozen=True, slots=True)
class BookEntry:
    """A resting order as the order-book view shows it."""

    id: int
    amount: int
    price: Decimal


class LoadStatus(StrEnum):
    """Where a batch load is: URL issued, loader running, or finished either way."""

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"


@dataclass(frozen=True, slots=True)
class RowError:
    """A rejected CSV row: its line as a text editor shows it (header = 1) and why."""

    line: int
    reason: str


@dataclass(frozen=True, slots=True)
class LoadCounts:
    """Rows seen so far: read = loaded + rejected."""

    read: int = 0
    loaded: int = 0
    rejected: int = 0


@dataclass(frozen=True, slots=True)
class LoadPlan:
    """What every run of one load must agree on: the object it reads and how rows are batched.

    The first run fixes it on the load record; a rerun reads the same object (`upload_etag`) and
    cuts the same batches (`partitions` by order id, `batch_rows` distinct ids each), so the
    batches a previous run committed are recognised and skipped.
    """

    upload_etag: str
    partitions: int
    batch_rows: int


@dataclass(frozen=True, slots=True)
class BatchLoad:
    """A batch load of orders from one uploaded CSV object, started by (and owned by) `account`.

    `url_expires_at` is when its presigned upload URL stops working.
    """

    id: str
    status: LoadStatus
    bucket: str
    object_key: str
    created_at: datetime
    url_expires_at: datetime
    account: str
    started_at: datetime | None = None
    finished_at: datetime | None = None
    counts: LoadCounts = LoadCounts()
    errors: tuple[RowError, ...] = ()
    reason: str | None = None
    error_report_key: str | None = None
    plan: LoadPlan | None = None
