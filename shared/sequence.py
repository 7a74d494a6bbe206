"""Time-priority stamps: unique, fixed-width strings that sort in the order they were issued.

A stamp is `<19-digit nanoseconds>.<8 hex digits of generator id>`. Within one generator the
nanosecond part strictly increases (a clock that stalls or steps back is overtaken by +1), so
stamps from one process sort exactly in issue order. Across processes (API replicas, the loader)
they sort by the accepting process's clock, and the generator id breaks exact ties: two orders
accepted by different replicas within their clock skew (typically well under a millisecond with
NTP / Amazon Time Sync) may be ordered either way. A single global sequencer would remove that
window at the price of a round trip and a hot key on every write; we accept the window instead.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable

STAMP_DIGITS = 19


class SequenceGenerator:
    """Issues strictly increasing time-priority stamps. Thread-safe."""

    def __init__(
        self,
        *,
        clock_ns: Callable[[], int] = time.time_ns,
        generator_id: str | None = None,
    ) -> None:
        self._clock_ns = clock_ns
        self._generator_id = generator_id or secrets.token_hex(4)
        if len(self._generator_id) != 8:
            raise ValueError("generator_id must be 8 characters")
        self._last = 0
        self._lock = threading.Lock()

    def next(self) -> str:
        """The next stamp: later than every stamp this generator issued before."""
        with self._lock:
            tick = max(self._clock_ns(), self._last + 1)
            self._last = tick
        return f"{tick:0{STAMP_DIGITS}d}.{self._generator_id}"
