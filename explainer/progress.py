"""A progress line for builds that take longer than a second; nothing at all for quick ones."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

ProgressFn = Callable[[str, int, int], None]


def quiet(stage: str, done: int, total: int) -> None:
    """Report nothing (the default)."""


class Progress:
    """Prints "stage done/total" on one rewritten line (a terminal) or now and then (a log)."""

    def __init__(self, stream: TextIO | None = None, delay: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.stream = stream or sys.stderr
        self.clock = clock
        self.started = clock()
        self.delay = delay
        self.last = float("-inf")
        self.shown = False
        self.tty = self.stream.isatty()

    def __call__(self, stage: str, done: int, total: int) -> None:
        """Note progress; print only once the work has taken longer than the delay."""
        now = self.clock()
        if now - self.started < self.delay:
            return
        # A terminal line can be rewritten often; a log (CI) gets a line every few seconds at most.
        if now - self.last < (0.2 if self.tty else 3.0) and done != total:
            return
        self.last = now
        line = f"{stage}: {done}/{total}"
        self.stream.write(f"\r{line:<40}" if self.tty else line + "\n")
        self.stream.flush()
        self.shown = True

    def finish(self) -> None:
        """End the rewritten line, if one was shown."""
        if self.shown and self.tty:
            self.stream.write("\n")
            self.stream.flush()
