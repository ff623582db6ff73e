"""Shared fixtures: the repository's folders and a way to build a site from a folder."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

import pytest

T = TypeVar("T")

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "templates"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-golden", action="store_true", help="rewrite the golden files from the current output")


def snapshot(folder: Path, *, skip_marker: bool = False) -> dict[str, bytes]:
    """Every file under a folder by its relative path, optionally without the output marker file."""
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not (skip_marker and p.name == ".explainer-output")
    }


@pytest.fixture
def mini_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the minimal valid site in a temporary folder, which is also the working directory."""
    shutil.copytree(FIXTURES / "mini" / "content", tmp_path / "content")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def lines_run(function: Callable[..., Any], call: Callable[[], T]) -> tuple[int, T]:
    """How many lines of ``function``'s own body ran during ``call()``, and what the call returned.

    A measure of work that no machine's speed changes: tests of "stops at once" and "linear"
    compare it across input sizes instead of timing anything.
    """
    code = function.__code__
    count = 0

    def local(frame: FrameType, event: str, arg: object) -> Any:
        nonlocal count
        if event == "line":
            count += 1
        return local

    def calls(frame: FrameType, event: str, arg: object) -> Any:
        return local if frame.f_code is code else None

    previous = sys.gettrace()
    sys.settrace(calls)
    try:
        result = call()
    finally:
        sys.settrace(previous)
    return count, result
