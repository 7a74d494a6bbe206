"""Quotes and trades: plan with the pure book walk, settle in one transaction, retry contention.

Group commit. `execute` takes the trades waiting on one book (in arrival order), reads the book
once, plans them one after another exactly as if they ran in turn (`BookCursor`: each sees what
the earlier ones left, so price–time priority and all-or-nothing hold per trade), and settles
them in one TransactWriteItems: an order filled by several of them becomes one action, and the
trade records and idempotency outcomes ride along (at most 100 actions; trades that do not fit
wait for the next group, in order). A book that is hot therefore costs one Query and one
transaction per *group*, not per trade. With grouping off, a group is one trade.

Contention is not failure. When the transaction is cancelled — a concurrent trade or amend won
the race for an order (its token/version guard failed; the cancellation tells its current
state), a concurrent transaction, throttling — the desk re-reads and re-plans the group after a
jittered backoff, until the deadline (`RetryPolicy`, capped by the request's own deadline). Only
a book that cannot cover a trade's amount (or would need more orders than one transaction holds)
makes that trade unsuccessful; a deadline passed under sustained contention is `StoreBusy`.

Exactly once. A trade's id is fixed before its first plan and kept across re-plans, and its
record is put with `attribute_not_exists`: if an attempt committed but its response was lost
(a timeout, a 5xx after the commit), the next attempt finds the record, and the trade is reported
from it — never executed twice. When even that cannot be learnt before the deadline, the trade's
outcome is `StoreOutcomeUnknown` (503), naming the trade id a client can look up.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

from shared.book import BookCursor, BookWalk, RestingOrder, walk_book
from shared.clock import Clock, utc_now
from shared.errors import (
    IdempotencyInFlight,
    OrderManagementError,
    StoreBusy,
    StoreConflict,
    StoreOutcomeUnknown,
    StoreThrottled,
    StoreUnavailable,
    TradeNotFound,
)
from shared.ids import unique_hex_id
from shared.models import Quote, Side, Trade, TradeFill, TradeOutcome
from shared.repository.books import BookReader
from shared.repository.idempotency import Claim, IdempotencyStore, trade_fingerprint
from shared.repository.trades import (
    MAX_TRANSACTION_ACTIONS,
    GroupCancelled,
    PlannedTrade,
    RefusedTrade,
    TradeRepository,
    actions_needed,
)
from shared.request_context import count_trade_retry
from shared.retry import RetryPolicy

# One transaction holds 100 actions: a lone trade's fills, its record and its idempotency outcome.
MAX_ORDERS_PER_TRADE = MAX_TRANSACTION_ACTIONS - 2
MAX_QUOTE_ORDERS = 1000


@dataclass(frozen=True, slots=True)
class TradeTicket:
    """One trade request, ready to execute: its values, its taker, its fixed id, its claim."""

    symbol: str
    side: Side
    amount: int
    account: str
    trade_id: str
    claim: Claim | None = None


TradeResult = TradeOutcome | OrderManagementError


@dataclass
class _Plan:
    executed: list[tuple[int, PlannedTrade]]
    refused: list[tuple[int, TradeOutcome]]
    deferred: list[int]

    @property
    def members(self) -> list[int]:
        return [index for index, _ in self.executed] + [index for index, _ in self.refused]


class TradeDesk:
    """Prices and executes trades against the order books."""

    def __init__(
        self,
        books: BookReader,
        trades: TradeRepository,
        idempotency: IdempotencyStore,
        *,
        clock: Clock = utc_now,
        retry: RetryPolicy | None = None,
        grouping: bool = True,
    ) -> None:
        self._books = books
        self._trades = trades
        self._idempotency = idempotency
        self._clock = clock
        self._retry = retry or RetryPolicy()
        self.grouping = grouping

    def quote(self, symbol: str, side: Side, amount: int) -> Quote:
        """The price of taking `amount` from the book now; read-only, at most 1,000 orders."""
        orders = self._books.walk_order(symbol, side, amount, most=MAX_QUOTE_ORDERS + 1)
        walk = walk_book(itertools.islice(orders, MAX_QUOTE_ORDERS + 1), amount)
        now = self._clock()
        if len(walk.fills) > MAX_QUOTE_ORDERS:
            reason = (
                f"the quote would walk more than {MAX_QUOTE_ORDERS} resting orders; "
                "quote a smaller amount"
            )
            return Quote(symbol, side, amount, now, reason=reason)
        if not walk.complete:
            return Quote(symbol, side, amount, now, reason=_short_reason(walk))
        return Quote(symbol, side, amount, now, price=walk.price)

    def ticket(
        self,
        symbol: str,
        side: Side,
        amount: int,
        *,
        account: str,
        idempotency_key: str | None = None,
    ) -> TradeTicket | TradeOutcome:
        """A ticket for a new trade, or the stored outcome of an idempotent repeat.

        With a key, claims it first. Raises `IdempotencyMismatch`, `IdempotencyInFlight`.
        """
        claim: Claim | None = None
        if idempotency_key is not None:
            fingerprint = trade_fingerprint(symbol, side, amount)
            claimed = self._idempotency.claim(account, idempotency_key, fingerprint, self._clock())
            if isinstance(claimed, TradeOutcome):
                return claimed
            claim = claimed
        return TradeTicket(symbol, side, amount, account, unique_hex_id(), claim)

    def abandon(self, ticket: TradeTicket, result: BaseException | None) -> None:
        """After a ticket failed: free its key unless the trade may have executed."""
        if ticket.claim is not None and not isinstance(result, StoreOutcomeUnknown):
            self._idempotency.release(ticket.claim)

    def trade(
        self,
        symbol: str,
        side: Side,
        amount: int,
        *,
        account: str,
        idempotency_key: str | None = None,
    ) -> TradeOutcome:
        """Take `amount` from the book atomically, or change nothing and say why (one trade)."""
        ticket = self.ticket(symbol, side, amount, account=account, idempotency_key=idempotency_key)
        if isinstance(ticket, TradeOutcome):
            return ticket
        try:
            (result,) = self.execute([ticket])
        except BaseException as error:
            self.abandon(ticket, error)
            raise
        if isinstance(result, OrderManagementError):
            self.abandon(ticket, result)
            raise result
        return result

    def get_trade(self, trade_id: str, *, viewer: str | None) -> Trade:
        """A recorded trade, if `viewer` took it (None: any, for admins). Raises `TradeNotFound`
        — also for another account's trade, whose existence is not told."""
        trade = self._trades.get(trade_id)
        if viewer is not None and trade.account != viewer:
            raise TradeNotFound(trade_id)
        return trade

    def execute(self, tickets: Sequence[TradeTicket]) -> list[TradeResult]:
        """Execute trades on one book, in order, grouped; one result per ticket.

        A result is the trade's outcome, or the error that ended it: `StoreBusy` (contention
        until the deadline; nothing executed), `IdempotencyInFlight` (its key was taken over),
        `StoreOutcomeUnknown` (it may have executed; its record will tell).
        """
        if len({(t.symbol, t.side) for t in tickets}) > 1:
            raise ValueError("a group holds trades of one book")
        results: dict[int, TradeResult] = {}
        uncertain: set[int] = set()
        pending = list(range(len(tickets)))
        known: dict[int, RestingOrder | None] = {}
        clock = self._retry.start()
        while pending:
            plan = self._plan(tickets, pending, known)
            try:
                self._trades.settle(
                    [planned for _, planned in plan.executed],
                    [
                        RefusedTrade(tickets[i].trade_id, claim, outcome)
                        for i, outcome in plan.refused
                        if (claim := tickets[i].claim) is not None
                    ],
                )
            except GroupCancelled as cancelled:
                known.update(cancelled.observed)
                results.update(self._already_recorded(tickets, plan, cancelled.recorded))
                for index in plan.members:
                    if tickets[index].trade_id in cancelled.lost_claims:
                        claim = tickets[index].claim
                        results[index] = IdempotencyInFlight(claim.key if claim else "")
            except (StoreConflict, StoreThrottled):
                pass
            except StoreUnavailable:
                # Sent, but the outcome is unknown: the records tell whether it committed.
                uncertain.update(plan.members)
                try:
                    done = self._trades.find([p.trade.id for _, p in plan.executed])
                except StoreUnavailable:
                    done = {}
                if plan.executed and len(done) == len(plan.executed):
                    results.update(self._settled(plan, done))
            else:
                results.update(self._settled(plan, {}))
                pending = [index for index in pending if index not in results]
                continue
            pending = [index for index in pending if index not in results]
            if pending:
                count_trade_retry()
                if not clock.pause():
                    break
        for index in pending:
            results[index] = self._gave_up(tickets[index], uncertain=index in uncertain)
        return [results[index] for index in range(len(tickets))]

    def _plan(
        self,
        tickets: Sequence[TradeTicket],
        pending: list[int],
        known: dict[int, RestingOrder | None],
    ) -> _Plan:
        candidates = pending if self.grouping else pending[:1]
        first = tickets[candidates[0]]
        wanted = sum(tickets[index].amount for index in candidates)
        # Each trade walks at most one order more than it may fill; a group, at most a quote's.
        most = min(len(candidates) * (MAX_ORDERS_PER_TRADE + 1), MAX_QUOTE_ORDERS + 1)
        cursor = BookCursor(
            self._books.walk_order(first.symbol, first.side, wanted, known=known, most=most)
        )
        plan = _Plan(executed=[], refused=[], deferred=[])
        touched: set[int] = set()
        records = claims = 0
        for index in candidates:
            ticket = tickets[index]
            if plan.deferred:
                plan.deferred.append(index)  # keep arrival order: later trades wait too
                continue
            walk = cursor.walk(ticket.amount, max_orders=MAX_ORDERS_PER_TRADE)
            now = self._clock()
            claim_actions = claims + (ticket.claim is not None)
            reason = _refusal(walk, ticket.amount)
            if reason is not None:
                if actions_needed(touched, records, claim_actions) > MAX_TRANSACTION_ACTIONS:
                    plan.deferred.append(index)
                    continue
                outcome = TradeOutcome(
                    ticket.symbol, ticket.side, ticket.amount, now, reason=reason
                )
                plan.refused.append((index, outcome))
                claims = claim_actions
                continue
            filled = {fill.order_id for fill in walk.fills}
            if (
                actions_needed(touched | filled, records + 1, claim_actions)
                > MAX_TRANSACTION_ACTIONS
            ):
                plan.deferred.append(index)
                continue
            cursor.take(walk)
            touched |= filled
            records += 1
            claims = claim_actions
            trade = Trade(
                id=ticket.trade_id,
                symbol=ticket.symbol,
                side=ticket.side,
                amount=ticket.amount,
                price=walk.price,
                fills=tuple(TradeFill(f.order_id, f.amount, f.price) for f in walk.fills),
                timestamp=now,
                account=ticket.account,
            )
            plan.executed.append((index, PlannedTrade(trade, walk.fills, ticket.claim)))
        return plan

    @staticmethod
    def _settled(plan: _Plan, recorded: dict[str, Trade]) -> dict[int, TradeResult]:
        """The outcomes of a group that committed (`recorded`: records read back, if any)."""
        outcomes: dict[int, TradeResult] = {}
        for index, planned in plan.executed:
            outcomes[index] = TradeOutcome.executed(recorded.get(planned.trade.id, planned.trade))
        for index, outcome in plan.refused:
            outcomes[index] = outcome
        return outcomes

    def _already_recorded(
        self, tickets: Sequence[TradeTicket], plan: _Plan, recorded: set[str]
    ) -> dict[int, TradeResult]:
        """Trades an earlier attempt of ours committed (their response was lost)."""
        indexes = [index for index in plan.members if tickets[index].trade_id in recorded]
        if not indexes:
            return {}
        found = self._trades.find([tickets[index].trade_id for index in indexes])
        return {
            index: TradeOutcome(
                trade.symbol, trade.side, trade.amount, trade.timestamp, trade=trade
            )
            for index in indexes
            if (trade := found.get(tickets[index].trade_id)) is not None
        }

    @staticmethod
    def _gave_up(ticket: TradeTicket, *, uncertain: bool) -> OrderManagementError:
        if uncertain:
            return StoreOutcomeUnknown(
                f"the outcome of trade {ticket.trade_id} is unknown: the order store did not "
                f"answer in time; GET /api/trades/{ticket.trade_id} tells whether it executed"
            )
        return StoreBusy(f"the {ticket.symbol} book kept changing; the trade was not placed")


def _short_reason(walk: BookWalk) -> str:
    return f"not enough resting quantity: {walk.filled} available of {walk.requested} requested"


def _refusal(walk: BookWalk, amount: int) -> str | None:
    if len(walk.fills) > MAX_ORDERS_PER_TRADE:
        return (
            f"the trade would consume more than {MAX_ORDERS_PER_TRADE} resting orders, the most "
            "one atomic trade can fill; split it into smaller trades"
        )
    if not walk.complete:
        return _short_reason(walk)
    return None
