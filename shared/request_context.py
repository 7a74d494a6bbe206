"""What one request carries through every layer: its deadline and its store counters.

The API opens a context per HTTP request (`request_scope`); the repository reads the deadline to
stop retrying in time and counts its retries and throttles into the context, which the request's
metrics line reports. Context variables follow the request into the worker thread that serves it
(Starlette copies the context into `run_in_threadpool`), and code running outside any request
(the loader, `om keys`) simply has no deadline.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass
class RequestContext:
    """The deadline (a `time.monotonic()` instant) and counters of one request."""

    deadline: float | None = None
    store_retries: int = 0
    store_throttles: int = 0
    trade_retries: int = 0
    trades_executed: int = 0
    trades_unfilled: int = 0
    trades_shed: int = 0

    def remaining(self) -> float | None:
        """Seconds left before the deadline (never negative), or None without a deadline."""
        if self.deadline is None:
            return None
        return max(0.0, self.deadline - time.monotonic())


_CURRENT: ContextVar[RequestContext | None] = ContextVar("om_request_context", default=None)


def current() -> RequestContext | None:
    """The context of the request being served here, if any."""
    return _CURRENT.get()


@contextmanager
def request_scope(deadline_seconds: float | None) -> Iterator[RequestContext]:
    """Serve one request within `deadline_seconds` (None: no deadline)."""
    context = RequestContext(
        deadline=None if deadline_seconds is None else time.monotonic() + deadline_seconds
    )
    token = _CURRENT.set(context)
    try:
        yield context
    finally:
        _CURRENT.reset(token)


@contextmanager
def narrowed(seconds: float) -> Iterator[None]:
    """Within the block, the current request's deadline is at most `seconds` away."""
    context = _CURRENT.get()
    if context is None:
        with request_scope(seconds):
            yield
        return
    saved = context.deadline
    ends = time.monotonic() + seconds
    context.deadline = ends if saved is None else min(saved, ends)
    try:
        yield
    finally:
        context.deadline = saved


def time_left() -> float | None:
    """Seconds left for the current request, or None when there is no deadline."""
    context = _CURRENT.get()
    return None if context is None else context.remaining()


def count_store_retry(*, throttled: bool) -> None:
    """Record one retried store request (and whether throttling caused it)."""
    context = _CURRENT.get()
    if context is not None:
        context.store_retries += 1
        if throttled:
            context.store_throttles += 1


def count_trade_retry() -> None:
    """Record one trade plan re-made after a lost race."""
    context = _CURRENT.get()
    if context is not None:
        context.trade_retries += 1


def count_trade_outcome(
    *, executed: bool = False, unfilled: bool = False, shed: bool = False
) -> None:
    """Record how a trade request ended: filled, refused by the book, or shed as too busy."""
    context = _CURRENT.get()
    if context is not None:
        context.trades_executed += executed
        context.trades_unfilled += unfilled
        context.trades_shed += shed
