"""Where trades wait for their book: on the event loop, bounded, never holding a thread.

Trades on one book cannot usefully run side by side — they would all plan from the same best
order and all but one would lose the race. So each book has a queue, and one worker per busy
book takes everything waiting (up to the group limit, `OM_TRADE_GROUP_LIMIT`, in arrival order)
and hands it to the desk as one group (`TradeDesk.execute`: one read, one transaction). While a
group is being settled the next one forms, so the busier the book, the larger the groups.

Waiting costs no thread: a waiting trade is a future on the event loop, so a burst of trades on
one symbol cannot starve the thread pool that serves every other endpoint. Settling runs in a
thread of a separate, small pool (`SETTLE_THREADS`). Load is shed, not queued without bound: a
trade that finds its book's queue full (`OM_TRADE_QUEUE_LIMIT`), or whose deadline passes while
it waits, gets `TradeShed` (503 + Retry-After) at once and nothing was done. A trade already
handed to the desk is always waited for: its outcome is then known, or reported as unknown.

A settled group's results are handed back a few per turn of the event loop (`RELEASE_BATCH`),
by a task of their own while the worker goes on to the next group, so the responses of a large
group interleave with other requests instead of holding them up.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from dataclasses import dataclass, field

import anyio.to_thread
from anyio import CapacityLimiter

from services.api.settings import MAX_TRADE_GROUP
from shared.errors import StoreBusy, StoreUnavailable
from shared.models import Side
from shared.request_context import request_scope
from shared.trading import TradeDesk, TradeResult, TradeTicket

SETTLE_THREADS = 8
# Results handed back per turn of the event loop. A settled group's trades all resume at once,
# and each one's response (rendering, the access log, the socket write) is loop work: released
# together, a group of 100 would hold every other request on the loop behind all of them.
RELEASE_BATCH = 4


class TradeShed(StoreBusy):
    """The book is too busy: the trade was not queued (or waited too long) and was not placed."""


@dataclass
class _Waiting:
    ticket: TradeTicket
    deadline: float
    future: asyncio.Future[TradeResult] = field(repr=False)


class BookQueues:
    """One bounded queue and at most one worker per (symbol, side) book; a group holds at most
    `group_limit` trades (1: one trade per transaction)."""

    def __init__(self, desk: TradeDesk, *, limit: int, group_limit: int = MAX_TRADE_GROUP) -> None:
        if not 1 <= group_limit <= MAX_TRADE_GROUP:
            raise ValueError(f"group_limit must be 1-{MAX_TRADE_GROUP}")
        self._desk = desk
        self._limit = limit
        self.group_limit = group_limit
        self._queues: dict[tuple[str, Side], deque[_Waiting]] = {}
        self._workers: dict[tuple[str, Side], asyncio.Task[None]] = {}
        self._limiter = CapacityLimiter(SETTLE_THREADS)
        self._releasing: set[asyncio.Task[None]] = set()
        self.shed = 0

    async def submit(self, ticket: TradeTicket, *, seconds_left: float | None) -> TradeResult:
        """Wait for `ticket`'s turn and its result. Raises `TradeShed` if the book is too busy."""
        book = (ticket.symbol, ticket.side)
        waiting = self._queues.setdefault(book, deque())
        if len(waiting) >= self._limit:
            self.shed += 1
            raise TradeShed(
                f"the {ticket.symbol} book has {len(waiting)} trades waiting; "
                "the trade was not placed"
            )
        loop = asyncio.get_running_loop()
        entry = _Waiting(
            ticket,
            deadline=time.monotonic() + (seconds_left if seconds_left is not None else 3600.0),
            future=loop.create_future(),
        )
        waiting.append(entry)
        if book not in self._workers:
            self._workers[book] = loop.create_task(self._work(book))
        return await entry.future

    async def _release(self, group: list[_Waiting], results: list[TradeResult]) -> None:
        """Hand `results` to their waiting trades, `RELEASE_BATCH` per turn of the loop."""
        for index, (entry, result) in enumerate(zip(group, results, strict=True)):
            if not entry.future.done():
                entry.future.set_result(result)
            if index % RELEASE_BATCH == RELEASE_BATCH - 1:
                await asyncio.sleep(0)

    async def _work(self, book: tuple[str, Side]) -> None:
        waiting = self._queues[book]
        loop = asyncio.get_running_loop()
        try:
            while waiting:
                group: list[_Waiting] = []
                gone: list[TradeTicket] = []
                now = time.monotonic()
                while waiting and len(group) < self.group_limit:
                    entry = waiting.popleft()
                    if entry.future.done():  # its client went away while it waited
                        gone.append(entry.ticket)
                    elif entry.deadline <= now:
                        self.shed += 1
                        entry.future.set_exception(
                            TradeShed(
                                f"the {entry.ticket.symbol} book stayed busy for longer than "
                                "the request's deadline; the trade was not placed"
                            )
                        )
                    else:
                        group.append(entry)
                seconds = min((entry.deadline for entry in group), default=now) - now
                try:
                    results = await anyio.to_thread.run_sync(
                        self._settle,
                        [entry.ticket for entry in group],
                        gone,
                        seconds,
                        limiter=self._limiter,
                    )
                except Exception as error:  # a bug must not strand the waiting trades
                    for entry in group:
                        if not entry.future.done():
                            entry.future.set_exception(error)
                    continue
                release = loop.create_task(self._release(group, results))
                self._releasing.add(release)  # the loop keeps only a weak reference
                release.add_done_callback(self._releasing.discard)
        finally:
            del self._workers[book]
            if not waiting:
                self._queues.pop(book, None)

    def _settle(
        self, tickets: list[TradeTicket], gone: list[TradeTicket], seconds: float
    ) -> list[TradeResult]:
        for ticket in gone:
            with contextlib.suppress(StoreUnavailable):  # else its claim's lease frees it
                self._desk.abandon(ticket, None)  # never executed: free its key at once
        if not tickets:
            return []
        with request_scope(max(seconds, 0.0)):
            return self._desk.execute(tickets)
