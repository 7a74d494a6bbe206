"""A circuit breaker: after consecutive store failures, fail fast for a while, then probe.

While the table is hung or unreachable every request would otherwise wait out its timeouts and
hold a worker thread doing so. After `threshold` consecutive failures the breaker opens: calls are
refused at once (the API answers 503 + Retry-After in microseconds). After `cooldown_seconds` one
call at a time is let through as a probe (half-open); its success closes the breaker, its failure
opens it again for another cooldown. Success anywhere resets the count. Thread-safe.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from enum import StrEnum


class CircuitState(StrEnum):
    """Where the breaker is."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"


class CircuitBreaker:
    """Counts consecutive failures of one dependency and decides whether to call it."""

    def __init__(
        self,
        *,
        threshold: int = 5,
        cooldown_seconds: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if threshold < 1 or cooldown_seconds <= 0:
            raise ValueError("threshold must be ≥ 1 and cooldown_seconds > 0")
        self._threshold = threshold
        self._cooldown = cooldown_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at: float | None = None
        self._probing = False

    @property
    def state(self) -> CircuitState:
        """Closed, open (refusing) or half-open (a probe may go)."""
        with self._lock:
            return self._state()

    def _state(self) -> CircuitState:
        if self._opened_at is None:
            return CircuitState.CLOSED
        if self._clock() - self._opened_at < self._cooldown:
            return CircuitState.OPEN
        return CircuitState.HALF_OPEN

    def allow(self) -> bool:
        """Whether a call may go now; in half-open state only one probe at a time."""
        with self._lock:
            state = self._state()
            if state is CircuitState.CLOSED:
                return True
            if state is CircuitState.OPEN or self._probing:
                return False
            self._probing = True
            return True

    def record_success(self) -> None:
        """A call succeeded: close the breaker."""
        with self._lock:
            self._failures = 0
            self._opened_at = None
            self._probing = False

    def record_failure(self) -> None:
        """A call failed for want of the dependency: count it, open at the threshold."""
        with self._lock:
            self._failures += 1
            if self._probing or self._failures >= self._threshold:
                self._opened_at = self._clock()
            self._probing = False
