"""A time budget for the work of one upload, checked where long work loops (PDF pages, pieces of sentence
splitting, embedding batches), so a pathological file ends with a clear error instead of holding the single
indexing worker for hours. Cooperative: nothing is interrupted mid-write (the store write comes after every
check), so a file that runs out of time leaves the index as it was."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from contextvars import ContextVar

_DEADLINE: ContextVar[tuple[float, float] | None] = ContextVar("upload_deadline", default=None)


class TimeUp(RuntimeError):
    """The work ran past its budget."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"indexing took more than {seconds:g} s")
        self.seconds = seconds


@contextlib.contextmanager
def budget(seconds: float | None) -> Iterator[None]:
    """Run the body with `seconds` to spend (None or 0: no limit)."""
    token = _DEADLINE.set((time.monotonic() + seconds, seconds) if seconds else None)
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def check() -> None:
    """Raise TimeUp when the current budget is spent; free when there is none."""
    current = _DEADLINE.get()
    if current is not None and time.monotonic() > current[0]:
        raise TimeUp(current[1])
