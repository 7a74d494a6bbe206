"""Time-priority stamps: strictly increasing, fixed width, unique across threads and generators."""

from __future__ import annotations

import itertools
import re
import sys
import threading
from collections.abc import Callable, Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.sequence import STAMP_DIGITS, SequenceGenerator

STAMP_WIDTH = STAMP_DIGITS + 1 + 8


def replaying(readings: list[int]) -> Callable[[], int]:
    """A fake nanosecond clock that returns `readings` in turn."""
    iterator: Iterator[int] = iter(readings)
    return lambda: next(iterator)


def test_stamps_increase_while_the_clock_stalls() -> None:
    generator = SequenceGenerator(clock_ns=lambda: 1_700_000_000_000_000_000)
    stamps = [generator.next() for _ in range(1_000)]
    assert stamps == sorted(stamps)
    assert len(set(stamps)) == len(stamps)


def test_stamps_increase_when_the_clock_goes_backwards() -> None:
    readings = [1_700_000_000_000_000_500 - step for step in range(500)]
    generator = SequenceGenerator(clock_ns=replaying(readings))
    stamps = [generator.next() for _ in readings]
    assert all(earlier < later for earlier, later in itertools.pairwise(stamps))


@given(readings=st.lists(st.integers(0, 10**18 * 9), min_size=1, max_size=200))
def test_stamps_strictly_increase_as_strings_for_any_clock(readings: list[int]) -> None:
    generator = SequenceGenerator(clock_ns=replaying(readings))
    stamps = [generator.next() for _ in readings]
    assert all(earlier < later for earlier, later in itertools.pairwise(stamps))


@given(readings=st.lists(st.integers(0, 10**18 * 9), min_size=1, max_size=200))
def test_stamps_never_run_behind_the_clock(readings: list[int]) -> None:
    generator = SequenceGenerator(clock_ns=replaying(readings))
    for reading in readings:
        assert int(generator.next().split(".")[0]) >= reading


def test_stamp_follows_the_clock_when_it_advances() -> None:
    generator = SequenceGenerator(clock_ns=replaying([5, 1_000]), generator_id="0000abcd")
    generator.next()
    assert generator.next() == f"{1_000:019d}.0000abcd"


@pytest.mark.parametrize("reading", [0, 1, 1_700_000_000_000_000_000, 10**STAMP_DIGITS - 2])
def test_stamps_have_fixed_width_whatever_the_clock(reading: int) -> None:
    stamp = SequenceGenerator(clock_ns=lambda: reading).next()
    assert len(stamp) == STAMP_WIDTH


def test_stamp_is_zero_padded_nanoseconds_then_generator_id() -> None:
    stamp = SequenceGenerator(clock_ns=lambda: 42, generator_id="deadbeef").next()
    assert stamp == "0000000000000000042.deadbeef"


def test_default_stamp_uses_wall_clock_nanoseconds_and_hex_generator_id() -> None:
    stamp = SequenceGenerator().next()
    assert re.fullmatch(r"\d{19}\.[0-9a-f]{8}", stamp)
    assert stamp.startswith("1")  # nanoseconds since 1970, in this century: 1.6e18 … 9.9e18


def test_fixed_width_makes_string_order_equal_issue_order_across_digit_counts() -> None:
    generator = SequenceGenerator(clock_ns=replaying([9, 10, 99, 100, 10**9]))
    stamps = [generator.next() for _ in range(5)]
    assert stamps == sorted(stamps)


def test_generators_get_distinct_ids() -> None:
    ids = {SequenceGenerator(clock_ns=lambda: 7).next().split(".")[1] for _ in range(200)}
    assert len(ids) == 200


def test_generators_reading_the_same_instant_issue_distinct_stamps() -> None:
    first = SequenceGenerator(clock_ns=lambda: 7).next()
    second = SequenceGenerator(clock_ns=lambda: 7).next()
    assert first != second


@pytest.mark.parametrize("generator_id", ["abc", "0123456789"])
def test_generator_id_must_be_eight_characters(generator_id: str) -> None:
    with pytest.raises(ValueError):
        SequenceGenerator(generator_id=generator_id)


def test_concurrent_threads_never_receive_the_same_stamp() -> None:
    generator = SequenceGenerator(clock_ns=lambda: 1_700_000_000_000_000_000)
    threads_count, per_thread = 8, 20_000
    issued: list[list[str]] = [[] for _ in range(threads_count)]
    start = threading.Barrier(threads_count)

    def issue(into: list[str]) -> None:
        start.wait()
        for _ in range(per_thread):
            into.append(generator.next())

    previous_interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads often, so an unguarded read-modify-write shows
    try:
        threads = [threading.Thread(target=issue, args=(out,)) for out in issued]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(previous_interval)

    every = [stamp for stamps in issued for stamp in stamps]
    assert len(set(every)) == threads_count * per_thread
    for stamps in issued:
        assert stamps == sorted(stamps)
