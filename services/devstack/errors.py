"""Why `om dev` cannot start or keep running, carrying the exit code it ends with."""

from __future__ import annotations


class StackError(Exception):
    """Why the stack cannot start, with the exit code `om dev` ends with."""

    def __init__(self, message: str, *, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code
