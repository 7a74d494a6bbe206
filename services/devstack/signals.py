"""Ctrl-C and SIGTERM as one requested stop, and a teardown that neither can interrupt.

SIGTERM behaves like Ctrl-C from the first moment, so a stop requested while the JVM is still
starting tears everything down too. uvicorn takes both signals over while it serves and re-raises
the signal after its graceful shutdown: that, too, ends as a requested stop. Once teardown begins
both are ignored, so a second Ctrl-C cannot leave an emulator half-stopped (each stop is bounded
anyway).
"""

from __future__ import annotations

import signal
from types import TracebackType
from typing import Any


class StopSignals:
    """While entered, SIGTERM raises `KeyboardInterrupt` like Ctrl-C; `ignore()` shields teardown.

    Leaving restores both handlers as they were.
    """

    def __init__(self) -> None:
        self._previous: dict[signal.Signals, Any] = {}

    def __enter__(self) -> StopSignals:
        self._previous = {
            signal.SIGINT: signal.getsignal(signal.SIGINT),
            signal.SIGTERM: signal.signal(signal.SIGTERM, signal.default_int_handler),
        }
        return self

    def ignore(self) -> None:
        """From now on neither Ctrl-C nor SIGTERM interrupts this process."""
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
