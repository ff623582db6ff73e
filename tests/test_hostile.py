"""Hostile input and ordinary faults: each ends in a located diagnostic, with little work, losing nothing."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from explainer import files as files_module
from explainer import parallel, yamlread
from explainer import writer as writer_module
from explainer.cli import main

from .conftest import TEMPLATES, lines_run, snapshot
from .test_invalid_sites import run_check

FACTS = "content/stories/alpha/facts.yaml"


def test_billion_laughs_fails_at_the_first_alias_with_little_memory(mini_site: Path) -> None:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 10)]
    (mini_site / FACTS).write_text("\n".join(lines) + "\n")
    # VmHWM is this process's own peak (ru_maxrss would include the forked test runner's).
    script = (
        "import re, sys; sys.argv = ['build.py', 'check', '--templates', sys.argv[1]]\n"
        "from explainer.cli import main\n"
        "status = main()\n"
        "peak = re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1)\n"
        "print(status, peak)\n"
    )
    out = subprocess.run([sys.executable, "-c", script, str(TEMPLATES)], cwd=mini_site, capture_output=True, text=True, timeout=60)
    status, max_kb = out.stdout.split()
    assert status == "1"
    assert int(max_kb) < 150_000  # the interpreter and the libraries alone; the aliases are never expanded
    assert f"{FACTS}:2:" in out.stderr and "aliases (*a0) are not allowed" in out.stderr


def test_a_file_that_vanishes_during_the_build_is_reported(mini_site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_open = os.open

    def vanishing_open(path: str, *args: object, **kwargs: object) -> int:
        if str(path).endswith("explainer.md"):
            raise FileNotFoundError(errno.ENOENT, "No such file or directory", path)
        return real_open(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(files_module.os, "open", vanishing_open)
    status, lines = run_check()
    assert status == 1
    assert lines == ["content/stories/alpha/explainer.md: error: the file is missing (was it removed during the build?)"]


@pytest.mark.parametrize("cache", ["--no-cache", "--cache=.cache"])
def test_a_full_disk_fails_the_build_and_keeps_the_site(mini_site: Path, monkeypatch: pytest.MonkeyPatch, cache: str) -> None:
    assert main(["build", "--templates", str(TEMPLATES), cache]) == 0
    before = snapshot(mini_site / "site")
    narrative = mini_site / "content/stories/alpha/explainer.md"
    narrative.write_text(narrative.read_text() + "\nOne more paragraph.\n")  # so there is something to write
    real_open = open

    def full_disk_open(path: object, mode: str = "r", *args: object, **kwargs: object) -> object:
        if "w" in mode and ".site.new-" in str(path):
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real_open(path, mode, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(writer_module, "open", full_disk_open, raising=False)
    assert main(["build", "--templates", str(TEMPLATES), cache]) == 1
    assert snapshot(mini_site / "site") == before
    assert [n for n in sorted(os.listdir(mini_site)) if n != ".cache"] == ["content", "site"]  # the staging folder is gone too


def _full_disk_in_workers() -> Callable[..., object]:
    """An ``open`` that cannot write into a staging folder beside the site, in any process but this one."""
    real_open = open
    parent = os.getpid()

    def full_disk(path: object, mode: str = "r", *args: object, **kwargs: object) -> object:
        if "w" in mode and ".site.new-" in str(path) and os.getpid() != parent:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real_open(path, mode, *args, **kwargs)  # type: ignore[call-overload]

    return full_disk


@pytest.mark.parametrize("cache", ["--no-cache", "--cache=.cache"])
def test_a_full_disk_in_a_worker_fails_the_build_and_keeps_the_site(mini_site: Path, monkeypatch: pytest.MonkeyPatch,
                                                                    capsys: pytest.CaptureFixture[str], cache: str) -> None:
    # Story pages are written by the worker processes that made them: a new site's into the folder
    # that becomes the site, a rebuild's (a template edit rewrites every page) beside it, to be renamed in.
    for name in ("beta", "gamma", "delta"):
        shutil.copytree(mini_site / "content/stories/alpha", mini_site / "content/stories" / name)
    shutil.copytree(TEMPLATES, mini_site / "templates")
    command = ["build", "--templates", "templates", cache, "--jobs", "2"]
    assert main(command) == 0
    before = snapshot(mini_site / "site")
    layout = mini_site / "templates/base.html"
    layout.write_text(layout.read_text().replace("</footer>", "<!-- edited --></footer>"))
    with monkeypatch.context() as m:
        m.setattr(parallel, "CHUNK", 1)  # four stories are enough to use worker processes
        m.setattr(writer_module, "open", _full_disk_in_workers(), raising=False)
        assert main(command) == 1
    assert "No space left on device" in capsys.readouterr().err
    assert snapshot(mini_site / "site") == before
    assert [n for n in sorted(os.listdir(mini_site)) if n != ".cache"] == ["content", "site", "templates"]  # no staging folder
    assert main(command) == 0  # with room again, the edit arrives
    assert all("<!-- edited -->" in (mini_site / "site" / name / "index.html").read_text() for name in ("alpha", "beta", "gamma", "delta"))


def test_a_build_interrupted_after_rendering_leaves_the_site_and_no_staging_folder(mini_site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from explainer import diagnostics

    assert main(["build", "--templates", str(TEMPLATES)]) == 0
    before = snapshot(mini_site / "site")
    narrative = mini_site / "content/stories/alpha/explainer.md"
    narrative.write_text(narrative.read_text() + "\nOne more paragraph [@wire].\n")  # staged, not yet in place

    def interrupted(*args: object) -> str:
        raise KeyboardInterrupt

    monkeypatch.setattr(diagnostics, "format_text", interrupted)  # Ctrl-C while the diagnostics print
    assert main(["build", "--templates", str(TEMPLATES)]) == 130
    assert snapshot(mini_site / "site") == before
    assert sorted(os.listdir(mini_site)) == [".cache", "content", "site"]


@pytest.mark.parametrize("cache", ["--no-cache", "--cache=.cache"])
def test_an_unwritable_output_location_fails_the_build(mini_site: Path, monkeypatch: pytest.MonkeyPatch, cache: str) -> None:
    # Root (as in CI) may write anywhere, so the refusal is simulated where the writer meets it.
    assert main(["build", "--templates", str(TEMPLATES), cache]) == 0
    before = snapshot(mini_site / "site")
    narrative = mini_site / "content/stories/alpha/explainer.md"
    narrative.write_text(narrative.read_text() + "\nOne more paragraph.\n")  # so there is something to write

    def refuse(*args: object, **kwargs: object) -> str:
        raise PermissionError(errno.EACCES, "Permission denied", str(mini_site))

    monkeypatch.setattr(writer_module.tempfile, "mkdtemp", refuse)
    assert main(["build", "--templates", str(TEMPLATES), cache]) == 1
    assert snapshot(mini_site / "site") == before


@pytest.mark.parametrize("name", ["topics", "sources", "static"])
def test_reserved_story_names_are_refused(mini_site: Path, name: str) -> None:
    (mini_site / "content/stories/alpha").rename(mini_site / "content/stories" / name)
    status, lines = run_check()
    assert status == 1
    assert lines == [f"content/stories/{name}: error: '{name}' is reserved for the site's own pages; choose another story name"]


def test_hostile_story_names_are_refused(mini_site: Path) -> None:
    invalid = ("ALPHA", "al pha", "alpha-", "ａlpha", "a" * 65)
    for name in (*invalid, "con", "..foo"):
        (mini_site / "content/stories" / name).mkdir()
    status, lines = run_check()
    assert status == 1
    for name in invalid:
        assert f"content/stories/{name}: error: '{name}' is not a valid story folder name: " \
            "use lower-case letters, digits and single hyphens, at most 64 characters" in lines, name
    # case and compatibility twins of an existing story are named as such
    assert "content/stories/alpha: error: story folder 'alpha' differs from 'ALPHA' only by case or Unicode normalisation" in lines
    assert "content/stories/ａlpha: error: story folder 'ａlpha' differs from 'ALPHA' only by case or Unicode normalisation" in lines
    # a name starting with "." is hidden, and hidden names are ignored everywhere (the format's rule)
    assert not any("..foo" in line for line in lines)
    # "con" is a fine name on the web (no device names there); it is only missing its files
    assert [line for line in lines if "/con" in line] == [
        "content/stories/con/explainer.md: error: missing explainer.md",
        "content/stories/con/facts.yaml: error: missing facts.yaml",
    ]


def test_deep_nesting_does_not_crash_either_parser_and_stops_at_the_limit(mini_site: Path) -> None:
    shapes = {
        "flow sequences (libyaml)": lambda depth: "a: " + "[" * depth,
        "block sequences": lambda depth: "a:\n" + "".join(" " * i + "- \n" for i in range(2, 2 * depth, 2)),
        "flow mappings": lambda depth: "{" * depth,
    }
    for name, shape in shapes.items():
        work = []
        for depth in (300, 200_000 if name != "block sequences" else 600):
            (mini_site / FACTS).write_text(shape(depth))
            steps, (status, lines) = lines_run(yamlread._Builder.run, run_check)
            work.append(steps)
            assert status == 1
            assert any("nesting deeper than 20 levels is not allowed" in line for line in lines), (name, lines)
        assert work[1] <= work[0], name  # the parse stops at the limit: however deep the file, no more work


def test_a_stored_row_that_would_inflate_past_the_limit_is_refused() -> None:
    import lz4.frame

    from explainer.cache import _page_of
    from explainer.layout import body_of

    bomb = lz4.frame.compress(b"\0" * (files_module.STORED_LIMIT + 1))  # about 270 KB on disk
    assert len(bomb) < 300_000
    with pytest.raises(ValueError, match="larger than the limit"):
        files_module.decompress(bomb)
    assert body_of(bomb) is None and _page_of(bomb) is None
    fine = files_module.compress(b"x" * 1000)
    assert files_module.decompress(fine) == b"x" * 1000
    with pytest.raises(ValueError):
        files_module.decompress(fine[:-5])  # cut short
    flipped = bytearray(fine)
    flipped[-1] ^= 1  # the content checksum no longer matches
    with pytest.raises(ValueError, match="damaged"):
        files_module.decompress(bytes(flipped))
    with pytest.raises(ValueError):
        files_module.decompress(fine + b"more")  # something after the frame
    with pytest.raises(ValueError, match="larger than the limit"):
        files_module.decompress(fine, limit=999)  # one byte over
    assert files_module.decompress(fine, limit=1000) == b"x" * 1000
    with pytest.raises(ValueError, match="declares 0 bytes"):
        files_module.decompress(lz4.frame.compress(b"x" * 1000, store_size=False))  # no size: not ours


def test_escape_sequences_in_content_reach_no_terminal(mini_site: Path) -> None:
    from explainer.serve import error_page

    facts = mini_site / FACTS
    # An unknown key whose name turns a terminal red, and a tag whose URI hides an escape.
    facts.write_text(facts.read_text() + '"\\e[31mred\\e[0m": x\nextra: !<tag:x%1B]0;title%07> y\n')
    status, lines = run_check()
    assert status == 1
    printed = "\n".join(lines)
    assert not any(ord(c) < 32 or 127 <= ord(c) < 160 for c in printed.replace("\n", ""))
    assert "unknown key '\\x1b[31mred\\x1b[0m'" in printed
    from explainer.diagnostics import Diagnostic, Pos

    page = error_page([Diagnostic(Pos("a\x1b.yaml", 1, 1), "error", "bad \x07 bell")]).decode()
    assert "\x1b" not in page and "\x07" not in page and "a\\x1b.yaml" in page and "bad \\x07 bell" in page
