"""Backoff between attempts, bounded by a policy deadline and by the request's own deadline."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from shared import request_context


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Full jitter on an exponential ceiling, for at most `deadline_seconds` per operation."""

    deadline_seconds: float = 10.0
    base_seconds: float = 0.005
    cap_seconds: float = 0.25

    def delay(self, attempt: int, draw: Callable[[], float] = random.random) -> float:
        """How long to wait before attempt `attempt + 1`."""
        return draw() * min(self.cap_seconds, self.base_seconds * 2.0 ** min(attempt, 32))

    def start(self) -> RetryClock:
        """A clock for one operation, ending at this policy's or the request's deadline."""
        ends = time.monotonic() + self.deadline_seconds
        left = request_context.time_left()
        if left is not None:
            ends = min(ends, time.monotonic() + left)
        return RetryClock(self, ends)


class RetryClock:
    """Counts attempts of one operation and sleeps between them until its deadline."""

    def __init__(
        self,
        policy: RetryPolicy,
        ends: float,
        *,
        sleep: Callable[[float], None] = time.sleep,
        draw: Callable[[], float] = random.random,
    ) -> None:
        self._policy = policy
        self._ends = ends
        self._sleep = sleep
        self._draw = draw
        self.attempt = 0

    def pause(self) -> bool:
        """Wait before the next attempt; False (without waiting) when it would pass the deadline."""
        pause = self._policy.delay(self.attempt, self._draw)
        if time.monotonic() + pause > self._ends:
            return False
        self.attempt += 1
        self._sleep(pause)
        return True
