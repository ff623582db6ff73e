"""The output folder: written whole or not at all, byte-identical across runs, stale pages removed."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from explainer import writer
from explainer.cli import main
from explainer.writer import MARKER, OutputError, safe_relative, write_site

from .conftest import ROOT, TEMPLATES, snapshot


def build_cli(*args: str) -> int:
    return main(["build", "--content", "content", "--templates", str(TEMPLATES), *args])


def test_failed_build_leaves_site_unchanged(mini_site: Path) -> None:
    assert build_cli() == 0
    before = snapshot(mini_site / "site")
    mtimes = {p: p.stat().st_mtime_ns for p in (mini_site / "site").rglob("*")}
    facts = mini_site / "content/stories/alpha/facts.yaml"
    facts.write_text(facts.read_text().replace("sources: [wire, daily]", "sources: [nowhere]"))
    assert build_cli() == 1
    assert snapshot(mini_site / "site") == before
    assert {p: p.stat().st_mtime_ns for p in (mini_site / "site").rglob("*")} == mtimes
    assert sorted(os.listdir(mini_site)) == [".cache", "content", "site"]  # no staging folder left behind


def test_strict_warnings_also_leave_site_unchanged(mini_site: Path) -> None:
    assert build_cli() == 0
    before = snapshot(mini_site / "site")
    narrative = mini_site / "content/stories/alpha/explainer.md"
    narrative.write_text("An uncited claim.\n\n" + narrative.read_text())
    assert build_cli("--strict") == 1
    assert snapshot(mini_site / "site") == before
    assert build_cli() == 0  # without --strict a warning does not stop the build


def test_removed_story_disappears_from_output(mini_site: Path) -> None:
    beta = mini_site / "content/stories/beta"
    shutil.copytree(mini_site / "content/stories/alpha", beta)
    assert build_cli() == 0
    assert (mini_site / "site/beta/index.html").exists()
    shutil.rmtree(beta)
    assert build_cli() == 0
    assert not (mini_site / "site/beta").exists()
    assert b"beta" not in (mini_site / "site/sitemap.xml").read_bytes()


def test_missing_out_folder_and_parents_are_created(mini_site: Path) -> None:
    assert build_cli("--out", "deep/er/site") == 0
    assert (mini_site / "deep/er/site/index.html").exists()


def test_refuses_to_replace_a_folder_it_did_not_write(mini_site: Path) -> None:
    (mini_site / "precious").mkdir()
    (mini_site / "precious/thesis.txt").write_text("years of work")
    assert build_cli("--out", "precious") == 2
    assert (mini_site / "precious/thesis.txt").read_text() == "years of work"


def test_leftovers_of_a_killed_build_are_cleaned(mini_site: Path) -> None:
    assert build_cli() == 0
    (mini_site / ".site.new-abc123").mkdir()
    (mini_site / ".site.new-abc123/index.html").write_text("half")
    assert build_cli() == 0
    assert sorted(os.listdir(mini_site)) == [".cache", "content", "site"]
    assert (mini_site / "site" / MARKER).exists()


@pytest.mark.parametrize("rebuild", [("--templates", "templates"), ("--no-cache",)], ids=["files replaced", "site replaced whole"])
def test_what_a_build_replaced_is_removed_by_another_process_before_it_returns(
    mini_site: Path, monkeypatch: pytest.MonkeyPatch, rebuild: tuple[str, ...]
) -> None:
    shutil.copytree(TEMPLATES, mini_site / "templates")
    assert build_cli("--templates", "templates") == 0
    base = mini_site / "templates/base.html"
    base.write_text(base.read_text().replace("</footer>", "<!-- edited --></footer>"))
    slow_remove = writer.remove_tree

    def remove_slowly(path: str) -> None:
        # What it removes are the pages the build replaced; in the child, this note reaches the
        # parent only through a file's name.
        old_pages = sum(b"</footer>" in f.read_bytes() and b"<!-- edited -->" not in f.read_bytes() for f in Path(path).rglob("*") if f.is_file())
        (mini_site / f"removed-by-{os.getpid()}-{old_pages}").touch()
        time.sleep(0.3)  # the parent must wait for this, not find the folder still there
        slow_remove(path)

    monkeypatch.setattr(writer, "_MEANWHILE_FROM", 1)  # the mini site replaces only a few files
    monkeypatch.setattr(writer, "remove_tree", remove_slowly)
    assert main(["build", "--content", "content", *rebuild, "--templates", "templates"]) == 0
    removals = [p.name.removeprefix("removed-by-").split("-") for p in mini_site.glob("removed-by-*")]
    assert removals and all(int(pid) != os.getpid() for pid, _ in removals)
    assert sum(int(pages) for _, pages in removals) >= 2  # the home page and the story's, at least
    assert sorted(n for n in os.listdir(mini_site) if not n.startswith("removed-by-")) == [".cache", "content", "site", "templates"]
    assert "<!-- edited -->" in (mini_site / "site/index.html").read_text()
    monkeypatch.setattr(writer, "remove_tree", slow_remove)
    assert main(["build", "--content", "content", "--templates", "templates", "--out", "full", "--no-cache"]) == 0
    assert snapshot(mini_site / "site") == snapshot(mini_site / "full")


@pytest.mark.parametrize("fate", ["interrupted", "killed"])
def test_what_a_build_replaced_is_gone_even_when_its_remover_is_interrupted_or_killed(
    mini_site: Path, monkeypatch: pytest.MonkeyPatch, fate: str
) -> None:
    """Ctrl-C in the terminal reaches the removing child too, which carries on; a child killed outright is made up for."""
    assert build_cli() == 0
    parent = os.getpid()
    real_remove = writer.remove_tree

    def remove(path: str) -> None:
        if os.getpid() != parent:
            os.kill(os.getpid(), signal.SIGINT if fate == "interrupted" else signal.SIGKILL)
            time.sleep(0.1)  # a signal not ignored has struck by now
            real_remove(path)
            (mini_site / "removed-by-the-child").touch()
        else:
            real_remove(path)

    monkeypatch.setattr(writer, "_MEANWHILE_FROM", 1)
    monkeypatch.setattr(writer, "remove_tree", remove)
    assert build_cli("--no-cache") == 0  # a whole new site: the previous one is removed meanwhile
    assert (mini_site / "removed-by-the-child").exists() == (fate == "interrupted")
    assert sorted(n for n in os.listdir(mini_site) if not n.startswith("removed-by")) == [".cache", "content", "site"]


def test_static_files_whose_names_differ_by_a_suffix_are_replaced_together(mini_site: Path) -> None:
    """Kept links of replaced files never take a staged file's name (``notes.txt`` and ``notes.txt.old``)."""
    shutil.copytree(TEMPLATES, mini_site / "templates")
    static = mini_site / "templates/static"
    (static / "notes.txt").write_text("one")
    (static / "notes.txt.old").write_text("two")
    assert build_cli("--templates", "templates") == 0
    (static / "notes.txt").write_text("one, edited")
    (static / "notes.txt.old").write_text("two, edited")
    base = mini_site / "templates/base.html"
    base.write_text(base.read_text().replace("</footer>", "<!-- edited --></footer>"))
    assert main(["build", "--content", "content", "--templates", "templates"]) == 0
    assert main(["build", "--content", "content", "--templates", "templates", "--out", "full", "--no-cache"]) == 0
    assert snapshot(mini_site / "site") == snapshot(mini_site / "full")
    assert sorted(os.listdir(mini_site)) == [".cache", "content", "full", "site", "templates"]


def test_writer_refuses_paths_outside_the_folder(tmp_path: Path) -> None:
    for bad in ("../evil.html", "/etc/passwd", "a/../../b", "", "a//b", "a\\b"):
        assert not safe_relative(bad)
        with pytest.raises(OutputError):
            write_site(str(tmp_path / "site"), {bad: b"x"})
    assert not (tmp_path / "evil.html").exists()
    assert not (tmp_path / "site").exists()


def _build_in_subprocess(workdir: Path, out: Path, seed: str) -> dict[str, bytes]:
    env = {**os.environ, "PYTHONHASHSEED": seed, "LC_ALL": "C", "TZ": "Pacific/Kiritimati"}
    subprocess.run(
        [sys.executable, str(ROOT / "build.py"), "build", "--content", "content", "--templates", str(TEMPLATES), "--out", str(out)],
        cwd=workdir, env=env, check=True, capture_output=True,
    )
    return snapshot(out)


def test_builds_are_byte_identical_across_paths_seeds_and_locales(tmp_path: Path) -> None:
    first, second = tmp_path / "one", tmp_path / "elsewhere" / "two"
    for folder in (first, second):
        shutil.copytree(ROOT / "tests/fixtures/golden/content", folder / "content")
    # Different file times too: the output must depend on the bytes only.
    os.utime(second / "content/site.yaml", (0, 0))
    a = _build_in_subprocess(first, tmp_path / "out-a", "1")
    b = _build_in_subprocess(second, tmp_path / "out-b", "4242")
    assert a == b
    assert len(a) > 10


def test_the_command_line_prints_everything_before_it_exits(tmp_path: Path) -> None:
    """build.py leaves without taking the interpreter apart: what it printed into pipes must still arrive, with its status."""
    shutil.copytree(ROOT / "tests/fixtures/golden/content", tmp_path / "content")
    command = [sys.executable, str(ROOT / "build.py"), "build", "--templates", str(TEMPLATES)]
    env = {name: value for name, value in os.environ.items() if name != "PYTHONUNBUFFERED"}  # pipes buffered, as usual
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, env=env)
    assert done.returncode == 0 and done.stdout.startswith("built ") and done.stdout.endswith("(0 warning(s))\n"), done
    facts = tmp_path / "content/stories/first-story/facts.yaml"
    facts.write_text(facts.read_text().replace("sources: [daily-report]", "sources: [nowhere]", 1))
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, env=env)
    assert done.returncode == 1 and done.stdout == "", done
    assert "nowhere" in done.stderr and done.stderr.endswith("site/ is unchanged.\n"), done.stderr


def test_a_reader_that_goes_away_before_the_summary_costs_nothing(tmp_path: Path) -> None:
    """`build.py build | head -0`: the site is built, and nothing claims it could not be written."""
    shutil.copytree(ROOT / "tests/fixtures/golden/content", tmp_path / "content")
    command = [sys.executable, str(ROOT / "build.py"), "build", "--templates", str(TEMPLATES)]
    proc = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # long before the build prints its last line
    err = proc.stderr.read()
    assert proc.wait(timeout=60) == 0
    assert err == b"", err
    assert (tmp_path / "site/first-story/index.html").is_file()


def test_the_command_runs_with_its_output_closed(tmp_path: Path) -> None:
    """Started with standard output closed (`>&-`), Python has no sys.stdout: the build succeeds all the same."""
    shutil.copytree(ROOT / "tests/fixtures/golden/content", tmp_path / "content")
    command = [sys.executable, str(ROOT / "build.py"), "build", "--templates", str(TEMPLATES)]
    # The descriptor closed in the child before Python starts, as a shell's `>&-` does.
    script = f"import os, sys; os.close(1); os.execv(sys.executable, {command!r})"
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert (tmp_path / "site/first-story/index.html").is_file()
