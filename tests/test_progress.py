"""The progress line: silent for quick builds, then a line now and then (logs) or one rewritten line (terminals)."""

from __future__ import annotations

import io

from explainer.progress import Progress


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_quick_work_prints_nothing() -> None:
    clock, out = Clock(), io.StringIO()
    progress = Progress(out, clock=clock)
    for done in range(1, 501):
        clock.now += 0.001
        progress("reading stories", done, 500)
    progress.finish()
    assert out.getvalue() == ""


def test_slow_work_prints_progress_in_a_log_every_few_seconds_and_at_the_end() -> None:
    clock, out = Clock(), io.StringIO()
    progress = Progress(out, clock=clock)
    for done in range(1, 1001):
        clock.now += 0.01  # ten seconds in all
        progress("rendering stories", done, 1000)
    lines = out.getvalue().splitlines()
    assert lines[0] == "rendering stories: 100/1000"
    assert lines[-1] == "rendering stories: 1000/1000"
    assert 3 <= len(lines) <= 5


def test_a_terminal_gets_one_rewritten_line() -> None:
    clock, out = Clock(), Terminal()
    progress = Progress(out, clock=clock)
    for done in range(1, 301):
        clock.now += 0.01
        progress("reading stories", done, 300)
    progress.finish()
    text = out.getvalue()
    assert text.count("\n") == 1 and text.endswith("\n")
    assert text.count("\r") > 5
    assert "reading stories: 300/300" in text
