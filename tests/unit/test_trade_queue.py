"""The book queues: who waits, who is shed, how groups form and how their results come back.

The desk here records the groups it is handed and answers each ticket with an outcome, so these
tests are about the queue alone; the desk's own grouping against a table is tested in
`tests/integration` (group transaction, concurrent trades).
"""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime
from typing import cast

import pytest

from services.api.settings import MAX_TRADE_GROUP
from services.api.trade_queue import RELEASE_BATCH, BookQueues, TradeShed
from shared.errors import StoreUnavailable
from shared.models import Side, TradeOutcome
from shared.trading import TradeDesk, TradeResult, TradeTicket
from tests.support.offline_api import offline_api


class RecordingDesk:
    """Answers every ticket `unfilled`; records groups and abandoned tickets. Until `open` is
    set, the first group it is handed blocks (so the next trades queue up behind it)."""

    def __init__(self, *, fail: BaseException | None = None) -> None:
        self.groups: list[list[str]] = []
        self.abandoned: list[str] = []
        self.open = threading.Event()
        self.entered = threading.Event()
        self.fail = fail

    def execute(self, tickets: list[TradeTicket]) -> list[TradeResult]:
        self.groups.append([ticket.trade_id for ticket in tickets])
        self.entered.set()
        self.open.wait(10)
        if self.fail is not None:
            raise self.fail
        at = datetime(2026, 1, 1, tzinfo=UTC)
        return [
            TradeOutcome(t.symbol, t.side, t.amount, at, reason=f"unfilled {t.trade_id}")
            for t in tickets
        ]

    def abandon(self, ticket: TradeTicket, result: BaseException | None) -> None:
        self.abandoned.append(ticket.trade_id)


def ticket(trade_id: str, symbol: str = "AAA") -> TradeTicket:
    return TradeTicket(symbol, Side.BUY, 1, "acct", trade_id)


def queues(
    desk: RecordingDesk, *, limit: int = 100, group_limit: int = MAX_TRADE_GROUP
) -> BookQueues:
    return BookQueues(cast(TradeDesk, desk), limit=limit, group_limit=group_limit)


async def until(condition: threading.Event) -> None:
    await asyncio.to_thread(condition.wait, 10)


def run(coroutine: object) -> None:
    asyncio.run(coroutine)  # type: ignore[arg-type]


def test_trades_waiting_together_are_one_group_in_arrival_order_each_with_its_result() -> None:
    async def scenario() -> None:
        desk = RecordingDesk()
        book = queues(desk)
        first = asyncio.create_task(book.submit(ticket("t0"), seconds_left=10))
        await until(desk.entered)  # t0 is being settled alone; the rest queue behind it
        later = [
            asyncio.create_task(book.submit(ticket(f"t{i}"), seconds_left=10))
            for i in range(1, 3 * RELEASE_BATCH + 2)
        ]
        await asyncio.sleep(0.05)
        desk.open.set()
        results = await asyncio.gather(first, *later)
        assert desk.groups == [["t0"], [f"t{i}" for i in range(1, 3 * RELEASE_BATCH + 2)]]
        assert [cast(TradeOutcome, r).reason for r in results] == [
            f"unfilled t{i}" for i in range(3 * RELEASE_BATCH + 2)
        ]

    run(scenario())


@pytest.mark.parametrize(
    ("group_limit", "groups"),
    [
        (MAX_TRADE_GROUP, [1, MAX_TRADE_GROUP, 5]),
        (40, [1, 40, 40, 25]),
        (1, [1] * (MAX_TRADE_GROUP + 6)),  # grouping off: one trade per transaction
    ],
)
def test_a_group_holds_at_most_the_group_limit(group_limit: int, groups: list[int]) -> None:
    async def scenario() -> list[list[str]]:
        desk = RecordingDesk()
        book = queues(desk, limit=1000, group_limit=group_limit)
        first = asyncio.create_task(book.submit(ticket("first"), seconds_left=10))
        await until(desk.entered)
        rest = [
            asyncio.create_task(book.submit(ticket(f"t{i}"), seconds_left=10))
            for i in range(MAX_TRADE_GROUP + 5)
        ]
        await asyncio.sleep(0.05)
        desk.open.set()
        await asyncio.gather(first, *rest)
        return desk.groups

    settled = asyncio.run(scenario())
    assert [len(group) for group in settled] == groups
    assert [t for group in settled for t in group] == ["first", *(f"t{i}" for i in range(105))]


@pytest.mark.parametrize(
    ("grouping", "group_limit", "expected"),
    [(True, None, MAX_TRADE_GROUP), (True, 7, 7), (False, 7, 1)],
)
def test_the_api_groups_trades_as_its_settings_say(
    grouping: bool, group_limit: int | None, expected: int
) -> None:
    """OM_TRADE_GROUPING and OM_TRADE_GROUP_LIMIT reach the book queues `om api` builds."""
    given = {} if group_limit is None else {"trade_group_limit": group_limit}
    app = offline_api(trade_grouping=grouping, **given)
    assert app.state.book_queues.group_limit == expected


@pytest.mark.parametrize("group_limit", [0, MAX_TRADE_GROUP + 1])
def test_a_group_limit_outside_one_to_a_hundred_is_refused(group_limit: int) -> None:
    with pytest.raises(ValueError, match="group_limit"):
        queues(RecordingDesk(), group_limit=group_limit)


def test_a_trade_finding_its_book_queue_full_is_shed_at_once_and_never_placed() -> None:
    async def scenario() -> None:
        desk = RecordingDesk()
        book = queues(desk, limit=2)
        busy = asyncio.create_task(book.submit(ticket("busy"), seconds_left=10))
        await until(desk.entered)
        waiting = [
            asyncio.create_task(book.submit(ticket(f"w{i}"), seconds_left=10)) for i in range(2)
        ]
        await asyncio.sleep(0.01)
        with pytest.raises(TradeShed, match="2 trades waiting"):
            await book.submit(ticket("shed"), seconds_left=10)
        # Another book is not affected by this one's queue.
        other = asyncio.create_task(book.submit(ticket("other", symbol="BBB"), seconds_left=10))
        desk.open.set()
        await asyncio.gather(busy, *waiting, other)
        assert "shed" not in {trade for group in desk.groups for trade in group}
        assert book.shed == 1

    run(scenario())


def test_a_trade_whose_deadline_passes_while_it_waits_is_shed_and_never_placed() -> None:
    async def scenario() -> None:
        desk = RecordingDesk()
        book = queues(desk)
        busy = asyncio.create_task(book.submit(ticket("busy"), seconds_left=10))
        await until(desk.entered)
        late = asyncio.create_task(book.submit(ticket("late"), seconds_left=0.01))
        await asyncio.sleep(0.05)
        desk.open.set()
        await busy
        with pytest.raises(TradeShed, match="deadline"):
            await late
        assert desk.groups == [["busy"]]

    run(scenario())


def test_a_trade_whose_client_left_while_it_waited_is_abandoned_not_placed() -> None:
    async def scenario() -> None:
        desk = RecordingDesk()
        book = queues(desk)
        busy = asyncio.create_task(book.submit(ticket("busy"), seconds_left=10))
        await until(desk.entered)
        gone = asyncio.create_task(book.submit(ticket("gone"), seconds_left=10))
        stays = asyncio.create_task(book.submit(ticket("stays"), seconds_left=10))
        await asyncio.sleep(0.01)
        gone.cancel()
        await asyncio.sleep(0.01)
        desk.open.set()
        await asyncio.gather(busy, stays)
        assert desk.groups == [["busy"], ["stays"]]
        assert desk.abandoned == ["gone"]

    run(scenario())


def test_a_failing_settlement_fails_every_trade_of_its_group() -> None:
    async def scenario() -> None:
        desk = RecordingDesk(fail=StoreUnavailable("table gone"))
        desk.open.set()
        book = queues(desk)
        results = await asyncio.gather(
            *(book.submit(ticket(f"t{i}"), seconds_left=10) for i in range(3)),
            return_exceptions=True,
        )
        assert all(isinstance(result, StoreUnavailable) for result in results)

    run(scenario())
