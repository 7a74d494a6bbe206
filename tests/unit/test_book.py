"""The pure book walk, the page sizing and reconciliation of book reads, and the retry backoff."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.book import Fill, RestingOrder, total_price, walk_book
from shared.repository.books import (
    FIRST_PAGE,
    ITEMS_PER_READ_UNIT,
    MAX_PAGE,
    _page_limit,
    _reconcile,
)
from shared.trading import RetryPolicy
from shared.validation import MAX_AMOUNT, MAX_ORDER_ID
from tests.unit.strategies import price_from_units, price_units


def resting(
    order_id: int, amount: int, price: Decimal | int | str, version: int = 1
) -> RestingOrder:
    return RestingOrder(
        id=order_id, amount=amount, price=Decimal(price), version=version, token="t"
    )


class CountingBook:
    """An iterable that yields orders one at a time and remembers how many it handed out."""

    def __init__(self, orders: Sequence[RestingOrder]) -> None:
        self.orders = orders
        self.pulled = 0

    def __iter__(self) -> Iterator[RestingOrder]:
        for order in self.orders:
            self.pulled += 1
            yield order


def units_of(price: Decimal) -> int:
    """`price` in 1e-8 units, on the digits (no decimal context, so nothing can round)."""
    sign, digits, exponent = price.as_tuple()
    assert sign == 0 and isinstance(exponent, int)
    mantissa = int("".join(map(str, digits)))
    if exponent + 8 >= 0:
        return mantissa * 10 ** (exponent + 8)
    units, remainder = divmod(mantissa, 10 ** -(exponent + 8))
    assert remainder == 0, f"{price} has more than 8 decimals"
    return units


def from_units(units: int) -> Decimal:
    """The decimal of `units` 1e-8 steps, built from its digits (exact at any size)."""
    whole, fraction = divmod(units, 10**8)
    return Decimal(f"{whole}.{fraction:08d}")


books = st.lists(
    st.builds(
        resting,
        order_id=st.integers(1, MAX_ORDER_ID),
        amount=st.one_of(st.integers(0, 50), st.integers(1, MAX_AMOUNT)),
        price=st.builds(price_from_units, price_units),
        version=st.integers(1, 100),
    ),
    max_size=30,
)
requests = st.one_of(st.integers(1, 200), st.integers(1, MAX_AMOUNT))


# --- walk_book: examples -------------------------------------------------------------------------


def test_seed_example_quotes_442_from_two_orders() -> None:
    walk = walk_book([resting(1, 20, 20), resting(4, 10, 21)], 22)
    assert walk.price == Decimal(442)
    assert walk.complete
    assert walk.filled == 22
    assert [(f.order_id, f.amount, f.price, f.remaining) for f in walk.fills] == [
        (1, 20, Decimal(20), 0),
        (4, 2, Decimal(21), 8),
    ]
    assert [f.exhausts_order for f in walk.fills] == [True, False]


def test_fill_carries_the_version_the_walk_read() -> None:
    walk = walk_book([resting(1, 5, 20, version=7), resting(2, 5, 20, version=3)], 6)
    assert [(f.order_id, f.version) for f in walk.fills] == [(1, 7), (2, 3)]


def test_walk_stops_pulling_orders_once_amount_is_covered() -> None:
    book = CountingBook([resting(1, 20, 20), resting(4, 10, 21), resting(5, 7, 22)])
    walk = walk_book(book, 22)
    assert walk.complete
    assert book.pulled == 2


def test_walk_that_fills_exactly_on_an_order_boundary_pulls_no_further() -> None:
    book = CountingBook([resting(1, 20, 20), resting(4, 10, 21), resting(5, 7, 22)])
    walk = walk_book(book, 20)
    assert [(f.order_id, f.amount, f.remaining) for f in walk.fills] == [(1, 20, 0)]
    assert book.pulled == 1


def test_walk_consumes_a_generator_lazily() -> None:
    def orders() -> Iterator[RestingOrder]:
        yield resting(1, 20, 20)
        yield resting(4, 10, 21)
        raise AssertionError("the walk read past the order that covered the amount")

    assert walk_book(orders(), 22).price == Decimal(442)


def test_walk_of_a_thin_book_is_incomplete_and_takes_everything() -> None:
    walk = walk_book([resting(1, 20, 20), resting(4, 10, 21)], 31)
    assert not walk.complete
    assert walk.filled == 30
    assert walk.filled < walk.requested == 31
    assert [(f.order_id, f.amount) for f in walk.fills] == [(1, 20), (4, 10)]
    assert walk.price == Decimal(610)


def test_walk_of_an_empty_book_is_incomplete_with_zero_price() -> None:
    walk = walk_book([], 1)
    assert walk.fills == ()
    assert walk.filled == 0
    assert not walk.complete
    assert walk.price == 0


def test_walk_skips_orders_with_nothing_left() -> None:
    walk = walk_book([resting(1, 0, 1), resting(2, 5, 20), resting(3, 0, 2), resting(4, 5, 21)], 7)
    assert [(f.order_id, f.amount) for f in walk.fills] == [(2, 5), (4, 2)]
    assert walk.price == Decimal(142)


@pytest.mark.parametrize("amount", [0, -1])
def test_walk_refuses_a_non_positive_amount(amount: int) -> None:
    with pytest.raises(ValueError, match="positive"):
        walk_book([resting(1, 5, 20)], amount)


def test_largest_amount_at_largest_fractional_price_is_summed_exactly() -> None:
    price = Decimal("999999999999.99999999")
    walk = walk_book([resting(1, MAX_AMOUNT, price)], MAX_AMOUNT)
    # (2^53 − 1) × 99999999999999999999 units of 1e-8, done in integers.
    assert walk.price == Decimal("9007199254740990999909928007.45259009")
    assert walk.price == from_units(MAX_AMOUNT * 99_999_999_999_999_999_999)


def test_sum_beyond_28_digits_does_not_round() -> None:
    fills = [
        Fill(
            order_id=1,
            amount=MAX_AMOUNT,
            price=Decimal("0.00000001"),
            remaining=0,
            version=1,
            token="t",
        ),
        Fill(
            order_id=2, amount=MAX_AMOUNT, price=Decimal(10**12), remaining=0, version=1, token="t"
        ),
    ]
    assert total_price(fills) == Decimal("9007199254740991000090071992.54740991")


def test_total_price_of_no_fills_is_zero() -> None:
    assert total_price([]) == Decimal(0)


# --- walk_book: properties -----------------------------------------------------------------------


@given(books, requests)
def test_walk_price_is_the_exact_sum_of_amount_times_price(
    book: list[RestingOrder], amount: int
) -> None:
    walk = walk_book(book, amount)
    expected_units = sum(f.amount * units_of(f.price) for f in walk.fills)
    assert walk.price == from_units(expected_units)
    assert units_of(walk.price) == expected_units


@given(books, requests)
def test_walk_never_fills_more_than_requested(book: list[RestingOrder], amount: int) -> None:
    walk = walk_book(book, amount)
    assert walk.filled <= amount
    assert walk.complete == (walk.filled == amount)
    assert walk.complete == (sum(order.amount for order in book) >= amount)


@given(books, requests)
def test_every_fill_takes_at_least_one_and_only_the_last_may_be_partial(
    book: list[RestingOrder], amount: int
) -> None:
    book = list({order.id: order for order in book}.values())  # unique ids
    walk = walk_book(book, amount)
    by_id = {order.id: order for order in book}
    for position, fill in enumerate(walk.fills):
        assert fill.amount >= 1
        assert fill.amount + fill.remaining == by_id[fill.order_id].amount
        if position < len(walk.fills) - 1:
            assert fill.remaining == 0


@given(books, requests)
def test_fills_follow_the_input_order_without_skipping_live_orders(
    book: list[RestingOrder], amount: int
) -> None:
    book = list({order.id: order for order in book}.values())  # unique ids
    walk = walk_book(book, amount)
    live = [order for order in book if order.amount > 0]
    assert [f.order_id for f in walk.fills] == [o.id for o in live[: len(walk.fills)]]
    assert [(f.price, f.version) for f in walk.fills] == [
        (o.price, o.version) for o in live[: len(walk.fills)]
    ]


@given(books, requests)
def test_walk_pulls_no_order_beyond_the_one_that_covers_the_amount(
    book: list[RestingOrder], amount: int
) -> None:
    counting = CountingBook(book)
    walk_book(counting, amount)
    covered, needed = 0, len(book)
    for position, order in enumerate(book):
        covered += max(order.amount, 0)
        if covered >= amount:
            needed = position + 1
            break
    assert counting.pulled == needed


# --- BookReader page sizing ----------------------------------------------------------------------

seen_books = st.integers(1, 2_000).flatmap(
    lambda orders: st.tuples(st.just(orders), st.integers(orders, orders * 10**6))
)


def test_first_page_reads_at_most_one_read_unit_of_orders() -> None:
    # One started 4 KB read unit holds this many order items: a first page of up to that many
    # costs the same capacity as a page of one.
    assert FIRST_PAGE == ITEMS_PER_READ_UNIT <= 15
    assert _page_limit(10**15, 0, 0) == FIRST_PAGE
    assert _page_limit(3, 0, 0) == 3
    assert _page_limit(1, 0, 0) == 1


def test_page_without_an_amount_is_the_largest_page() -> None:
    assert _page_limit(None, 0, 0) == MAX_PAGE == 1000
    assert _page_limit(None, 40, 50) == MAX_PAGE


def test_pages_grow_when_the_orders_seen_are_small() -> None:
    # 10 orders of 1 seen, 500 still needed: expect ~500 more orders, so read them in one page.
    assert _page_limit(500, 10, 10) == 500
    # 10 orders of 100 seen, 500 still needed: ~5 more orders; the first-page floor still applies.
    assert _page_limit(500, 10, 1_000) == FIRST_PAGE


def test_pages_are_capped_at_one_thousand() -> None:
    assert _page_limit(10**15, 10, 10) == MAX_PAGE


@given(st.integers(1, 10**15))
def test_first_page_never_exceeds_remaining_or_the_first_page_size(remaining: int) -> None:
    assert 1 <= _page_limit(remaining, 0, 0) == min(remaining, FIRST_PAGE)


@given(st.integers(1, 10**15), seen_books)
def test_later_pages_stay_within_remaining_and_the_cap(
    remaining: int, seen: tuple[int, int]
) -> None:
    seen_orders, seen_amount = seen
    limit = _page_limit(remaining, seen_orders, seen_amount)
    assert 1 <= limit <= min(remaining, MAX_PAGE)
    # At least the first-page size, unless fewer are needed.
    assert limit >= min(remaining, FIRST_PAGE)
    # Enough orders of the average size seen so far to cover the rest, unless capped.
    assert limit == min(remaining, MAX_PAGE) or limit * seen_amount >= remaining * seen_orders
    # Whole read units: a partly used 4 KB unit is paid for anyway.
    assert limit == min(remaining, MAX_PAGE) or limit % ITEMS_PER_READ_UNIT == 0


@given(st.integers(1, 10**15), st.integers(1, 2_000), st.integers(1, 10**6), st.integers(1, 10**6))
def test_smaller_orders_seen_never_shrink_the_next_page(
    remaining: int, seen_orders: int, small: int, extra: int
) -> None:
    small_amount = seen_orders * small
    large_amount = small_amount + extra
    assert _page_limit(remaining, seen_orders, small_amount) >= _page_limit(
        remaining, seen_orders, large_amount
    )


# --- BookReader reconciliation with states learnt from failed transactions -----------------------


def test_index_entry_stands_when_nothing_is_known() -> None:
    indexed = resting(1, 5, 20, version=2)
    assert _reconcile(indexed, None) is indexed
    assert _reconcile(indexed, {}) is indexed
    assert _reconcile(indexed, {9: None}) is indexed


def test_order_known_to_be_gone_is_dropped() -> None:
    assert _reconcile(resting(1, 5, 20, version=2), {1: None}) is None


def test_index_entry_as_new_as_what_is_known_stands() -> None:
    indexed = resting(1, 5, 20, version=3)
    assert _reconcile(indexed, {1: resting(1, 4, 20, version=3)}) is indexed
    assert _reconcile(indexed, {1: resting(1, 4, 20, version=2)}) is indexed


def test_stale_index_entry_is_replaced_by_newer_state_at_the_same_price() -> None:
    truth = resting(1, 2, "20.0", version=4)
    assert _reconcile(resting(1, 5, 20, version=3), {1: truth}) is truth


def test_stale_index_entry_of_a_repriced_order_is_dropped() -> None:
    truth = resting(1, 5, 21, version=4)
    assert _reconcile(resting(1, 5, 20, version=3), {1: truth}) is None


# --- TradeDesk retry backoff ---------------------------------------------------------------------


def test_first_retry_waits_at_most_the_base_delay() -> None:
    policy = RetryPolicy(base_seconds=0.005, cap_seconds=0.25)
    assert policy.delay(0, lambda: 0.0) == 0
    assert policy.delay(0, lambda: 0.999) == pytest.approx(0.005 * 0.999)


def test_retry_ceiling_doubles_until_the_cap() -> None:
    policy = RetryPolicy(base_seconds=0.005, cap_seconds=0.25)
    ceilings = [policy.delay(attempt, lambda: 1.0) for attempt in range(8)]
    assert ceilings == pytest.approx([0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.25, 0.25])


@given(st.integers(0, 1_000), st.floats(0, 1, exclude_max=True))
def test_retry_delay_stays_between_zero_and_the_ceiling(attempt: int, draw: float) -> None:
    policy = RetryPolicy(base_seconds=0.005, cap_seconds=0.25)
    delay = policy.delay(attempt, lambda: draw)
    assert 0 <= delay <= min(0.25, 0.005 * 2**attempt)


@pytest.mark.parametrize("attempt", [1_023, 1_024, 10**6])
def test_retry_delay_stays_capped_however_many_attempts_ran(attempt: int) -> None:
    # The trade loop counts attempts without bound until its deadline; the delay must stay a
    # number (2.0**1024 overflows a float) so a long contention ends in StoreBusy, not a crash.
    assert RetryPolicy(cap_seconds=0.25).delay(attempt, lambda: 0.5) == pytest.approx(0.125)
