"""Invalid mini-sites, each paired with the exact diagnostics `check` must print.

A case file (tests/cases/invalid/*.case) overlays files on the minimal valid site:

    # one line saying what the case covers
    === content/stories/alpha/facts.yaml
    ...the whole new file...
    === delete content/stories/alpha/explainer.md
    === expected
    content/stories/alpha/facts.yaml:3:12: error: ...

Files are written byte for byte as given (UTF-8, LF). `expected` lists every diagnostic, sorted,
exactly as printed; the check must exit 1.
"""

from __future__ import annotations

import io
from contextlib import redirect_stderr
from pathlib import Path

import pytest

from explainer.cli import main

from .conftest import TEMPLATES

CASES = sorted((Path(__file__).parent / "cases" / "invalid").glob("*.case"))


def parse_case(text: str) -> tuple[dict[str, str | None], list[str]]:
    """The files a case writes (None: delete) and the diagnostics it expects."""
    files: dict[str, str | None] = {}
    expected: list[str] = []
    target: str | None = None
    for line in text.splitlines(keepends=True):
        if line.startswith("=== "):
            header = line[4:].strip()
            if header.startswith("delete "):
                files[header[7:]] = None
                target = None
            else:
                target = header
                if header != "expected":
                    files[header] = ""
        elif target == "expected":
            expected.append(line.rstrip("\n"))
        elif target is not None:
            files[target] = (files[target] or "") + line
    return files, [line for line in expected if line.strip()]


def run_check(*extra: str) -> tuple[int, list[str]]:
    """Run `check` on ./content with the repository's templates; exit status and diagnostic lines."""
    err = io.StringIO()
    with redirect_stderr(err):
        status = main(["check", "--content", "content", "--templates", str(TEMPLATES), *extra])
    # Leave out the summary, and the progress line a slow machine may show after a second.
    lines = [line for line in err.getvalue().splitlines() if not line.startswith(("check ", "building stories:", "reading stories:"))]
    return status, lines


def test_there_are_enough_cases() -> None:
    assert len(CASES) >= 25


def test_mini_site_is_valid(mini_site: Path) -> None:
    assert run_check("--strict") == (0, [])


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_invalid_case(case: Path, mini_site: Path) -> None:
    files, expected = parse_case(case.read_text(encoding="utf-8"))
    assert expected, f"{case.name} has no expected diagnostics"
    for name, body in files.items():
        path = mini_site / name
        if body is None:
            path.unlink()
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(body.encode("utf-8"))
    status, lines = run_check("--strict")
    assert lines == expected
    assert status == 1
