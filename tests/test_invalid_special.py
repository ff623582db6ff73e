"""Invalid (and tricky valid) sites that a case file cannot express, each with its exact diagnostics.

Symbolic links, bytes that are not UTF-8, byte-order marks, line endings, size limits, story names
that differ only by case, editor droppings, ``--format json`` and usage errors. Every test starts from
the minimal valid site (the ``mini_site`` fixture), which is also the working directory.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tracemalloc
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

from explainer import loader, yamlread
from explainer.cli import main

from .conftest import TEMPLATES, lines_run
from .test_invalid_sites import run_check

ALPHA = Path("content/stories/alpha")
FACTS = ALPHA / "facts.yaml"
NARRATIVE = ALPHA / "explainer.md"
SITE_FILES = (Path("content/site.yaml"), Path("content/publishers.yaml"), FACTS, NARRATIVE)
SYMLINK = "error: symbolic links are not allowed under content/ (they are never followed)"
RAW_HTML = "warning: raw HTML is not rendered; it is shown as text"
NAME_RULE = "use lower-case letters, digits and single hyphens, at most 64 characters"
BOM = b"\xef\xbb\xbf"


def edit(path: Path, old: str, new: str) -> None:
    """Replace one piece of a file's text, which must be there."""
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8", newline="")


def run(*argv: str) -> tuple[int, str, str]:
    """Run the command line; exit status, stdout and stderr."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        status = main(list(argv))
    return status, out.getvalue(), err.getvalue()


def listing(root: Path) -> list[str]:
    """Every path under a folder (links not followed), for 'nothing was written' checks."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


# --- symbolic links -------------------------------------------------------------------------------


def test_symlink_to_a_file_in_a_story_folder(mini_site: Path) -> None:
    (mini_site / "outside.md").write_text("Somewhere else.\n", encoding="utf-8")
    os.symlink("../../../outside.md", ALPHA / "notes.md")
    assert run_check("--strict") == (1, [f"content/stories/alpha/notes.md: {SYMLINK}"])


def test_symlinked_explainer_is_reported_as_a_link_not_as_missing(mini_site: Path) -> None:
    # The file is there, as a link: "missing explainer.md" beside the link error would mislead.
    NARRATIVE.rename(mini_site / "real.md")
    os.symlink("../../../real.md", NARRATIVE)
    assert run_check("--strict") == (1, [f"content/stories/alpha/explainer.md: {SYMLINK}"])


def test_symlinked_story_folder(mini_site: Path) -> None:
    os.symlink("alpha", "content/stories/beta")
    assert run_check("--strict") == (1, [f"content/stories/beta: {SYMLINK}"])


def test_symlink_loops_are_reported_never_followed(mini_site: Path) -> None:
    os.symlink("b", ALPHA / "a")
    os.symlink("a", ALPHA / "b")
    os.symlink("..", ALPHA / "up")
    os.symlink("self", "content/stories/self")
    os.symlink(".", "content/loop")
    assert run_check("--strict") == (
        1,
        [
            f"content/loop: {SYMLINK}",
            f"content/stories/alpha/a: {SYMLINK}",
            f"content/stories/alpha/b: {SYMLINK}",
            f"content/stories/alpha/up: {SYMLINK}",
            f"content/stories/self: {SYMLINK}",
        ],
    )


# --- encodings and line endings -------------------------------------------------------------------

NEWLINES = {"lf": "\n", "crlf": "\r\n", "cr": "\r"}


@pytest.mark.parametrize("newline", NEWLINES)
def test_not_utf8_yaml_is_an_error_at_its_line_and_column(mini_site: Path, newline: str) -> None:
    lines = FACTS.read_bytes().split(b"\n")
    lines.insert(2, "byline: Ĉaf".encode() + b"\xe9 Desk")  # line 3; the Latin-1 'é' is code point 12
    FACTS.write_bytes(NEWLINES[newline].encode().join(lines))
    assert run_check("--strict") == (1, ["content/stories/alpha/facts.yaml:3:12: error: the file is not UTF-8 (byte 0xE9); save it as UTF-8"])


@pytest.mark.parametrize("newline", NEWLINES)
def test_not_utf8_narrative_is_an_error_at_its_line_and_column(mini_site: Path, newline: str) -> None:
    lines = [b"Alpha happened [#alpha-happened], as the wire said [@wire].", b"", "The café ".encode() + b"\xe9 [@daily].", b""]
    lines += [b"## Why this matters", b"", b"It matters.", b""]
    NARRATIVE.write_bytes(NEWLINES[newline].encode().join(lines))
    assert run_check("--strict") == (1, ["content/stories/alpha/explainer.md:3:10: error: the file is not UTF-8 (byte 0xE9); save it as UTF-8"])


def test_utf8_byte_order_mark_is_accepted(mini_site: Path) -> None:
    for path in SITE_FILES:
        path.write_bytes(BOM + path.read_bytes())
    assert run_check("--strict") == (0, [])


def test_columns_on_the_first_line_do_not_count_the_byte_order_mark(mini_site: Path) -> None:
    edit(FACTS, "headline: Alpha happened", "headline: no")
    edit(NARRATIVE, "Alpha happened", "<b>Alpha</b> happened")
    site = Path("content/site.yaml")
    site.write_bytes(site.read_bytes().replace(b"title: Mini explainers", b"title: Mini caf\xe9"))  # a Latin-1 byte at code point 16
    for path in SITE_FILES:
        path.write_bytes(BOM + path.read_bytes())
    assert run_check("--strict") == (
        1,
        [
            "content/site.yaml:1:16: error: the file is not UTF-8 (byte 0xE9); save it as UTF-8",
            f"content/stories/alpha/explainer.md:1:1: {RAW_HTML}",
            f"content/stories/alpha/explainer.md:1:9: {RAW_HTML}",
            "content/stories/alpha/facts.yaml:1:11: error: 'headline' must be text, but YAML reads no as a boolean; put it in quotes: \"no\"",
        ],
    )


def _break_the_mini_site() -> None:
    """Problems spread over several lines of both kinds of file, for the line-ending tests."""
    edit(FACTS, "sources: [wire, daily]", "sources: [wire, daly]")
    edit(FACTS, "title: Alpha reported", "title: Alpha reported # by the wire")
    edit(NARRATIVE, "It matters.", "It <b>matters</b>.\n\n<div>\nx\n</div>")


BROKEN = [
    f"content/stories/alpha/explainer.md:5:4: {RAW_HTML}",
    f"content/stories/alpha/explainer.md:5:14: {RAW_HTML}",
    f"content/stories/alpha/explainer.md:7:1: {RAW_HTML}",
    "content/stories/alpha/facts.yaml:7:12: warning: the text of 'title' ends before ' #': "
    "YAML drops the rest as a comment; put the whole text in quotes",
    "content/stories/alpha/facts.yaml:10:5: warning: source 'daily' is never cited",
    "content/stories/alpha/facts.yaml:16:21: error: fact 'alpha-happened' cites unknown source 'daly' (known: daily, wire)",
]


def test_the_line_ending_baseline(mini_site: Path) -> None:
    _break_the_mini_site()
    assert run_check("--strict") == (1, BROKEN)


@pytest.mark.parametrize("newline", ["crlf", "cr", "mixed"])
def test_crlf_and_lone_cr_give_the_same_lines_as_lf(mini_site: Path, newline: str) -> None:
    _break_the_mini_site()
    for path in SITE_FILES:
        lines = path.read_text(encoding="utf-8").split("\n")
        if newline == "mixed":
            ends = ["\n", "\r", "\r\n"] * len(lines)  # a lone CR is never followed by an LF, which would join them
            path.write_bytes("".join(line + end for line, end in zip(lines[:-1], ends, strict=False)).encode() + lines[-1].encode())
        else:
            path.write_bytes(NEWLINES[newline].join(lines).encode())
    assert run_check("--strict") == (1, BROKEN)


@pytest.mark.parametrize("separator", ["\u2028", "\u2029"])
def test_unicode_line_and_paragraph_separators_do_not_end_lines(mini_site: Path, separator: str) -> None:
    # Only LF, CRLF and CR end a line: a U+2028 inside a value must not shift the lines after it.
    _break_the_mini_site()
    edit(FACTS, "summary: A short summary", f"summary: A short{separator}summary")
    edit(NARRATIVE, "as the wire said", f"as the wire{separator}said")
    assert run_check("--strict") == (1, BROKEN)


def test_raw_control_characters_in_yaml_are_errors_at_the_character(mini_site: Path) -> None:
    edit(FACTS, "summary: A short summary", "summary: A short\u0085summary")
    edit(FACTS, "title: Alpha explained", "title: Alpha\x00explained")
    assert run_check("--strict") == (
        1,
        [
            "content/stories/alpha/facts.yaml:2:17: error: control character U+0085 is not allowed",
            "content/stories/alpha/facts.yaml:11:17: error: control character U+0000 is not allowed",
        ],
    )


# --- limits ---------------------------------------------------------------------------------------

YAML_LIMIT = 1024 * 1024
NARRATIVE_LIMIT = 2 * 1024 * 1024


def _pad_to(path: Path, size: int, filler: str) -> None:
    """Make a file exactly ``size`` bytes long by adding one line of filler."""
    data = path.read_bytes()
    pad = size - len(data) - 1
    path.write_bytes(data + filler.encode() + b"x" * (pad - len(filler)) + b"\n")
    assert path.stat().st_size == size


def test_yaml_of_exactly_the_limit_is_accepted(mini_site: Path) -> None:
    _pad_to(FACTS, YAML_LIMIT, "# ")
    assert run_check("--strict") == (0, [])


def test_files_over_the_limits_are_refused_before_they_are_decoded(mini_site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _pad_to(FACTS, YAML_LIMIT + 1, "# ")
    _pad_to(Path("content/publishers.yaml"), YAML_LIMIT + 1, "# ")
    _pad_to(NARRATIVE, NARRATIVE_LIMIT + 1, "\nMore [@wire] ")
    decoded: list[str] = []
    real_decode = loader.decode
    monkeypatch.setattr(loader, "decode", lambda data, shown, report: decoded.append(shown) or real_decode(data, shown, report))
    result = run_check("--strict")
    assert decoded and not {str(FACTS), "content/publishers.yaml", str(NARRATIVE)} & set(decoded)  # nor parsed
    assert result == (
        1,
        [
            f"content/publishers.yaml: error: the file is {YAML_LIMIT + 1} bytes; at most {YAML_LIMIT} are allowed",
            f"content/stories/alpha/explainer.md: error: the file is {NARRATIVE_LIMIT + 1} bytes; at most {NARRATIVE_LIMIT} are allowed",
            f"content/stories/alpha/facts.yaml: error: the file is {YAML_LIMIT + 1} bytes; at most {YAML_LIMIT} are allowed",
        ],
    )


@pytest.mark.parametrize("grown_to", ["within the limit", "over the limit"])
def test_a_file_that_grows_after_its_stat_is_read_whole_or_refused(mini_site: Path, monkeypatch: pytest.MonkeyPatch, grown_to: str) -> None:
    from explainer import files
    from explainer.diagnostics import Report

    if grown_to == "over the limit":
        _pad_to(FACTS, YAML_LIMIT + 1, "# ")
    real_stat = os.stat

    def earlier_stat(path: object, *args: object, **kwargs: object) -> os.stat_result:
        """The stat as it was before the file grew: ten bytes long."""
        st = real_stat(path, *args, **kwargs)  # type: ignore[arg-type]
        fields = list(st)
        fields[6] = min(st.st_size, 10)  # st_size
        return os.stat_result(fields)

    monkeypatch.setattr(files.os, "stat", earlier_stat)
    report = Report()
    data = files.read_bytes(str(FACTS), "facts.yaml", YAML_LIMIT, report)
    if grown_to == "within the limit":
        assert data == FACTS.read_bytes() and not report.items
    else:
        assert data is None
        assert [d.message for d in report.items] == [f"the file is larger than {YAML_LIMIT} bytes"]


def test_a_named_pipe_swapped_in_after_the_stat_is_refused_without_waiting(mini_site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    from explainer import files
    from explainer.diagnostics import Report

    real_stat = os.stat
    regular = real_stat(NARRATIVE)
    FACTS.unlink()
    os.mkfifo(FACTS)  # a reader opening it the usual way would wait for a writer forever

    def stat_before_the_swap(path: object, *args: object, **kwargs: object) -> os.stat_result:
        return regular if str(path) == str(FACTS) else real_stat(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(files.os, "stat", stat_before_the_swap)
    report = Report()
    results: list[object] = []
    reader = threading.Thread(target=lambda: results.append(files.read_bytes(str(FACTS), "facts.yaml", YAML_LIMIT, report)), daemon=True)
    reader.start()
    reader.join(timeout=10)
    assert not reader.is_alive(), "the build waited on a named pipe"
    assert results == [None]
    assert [d.message for d in report.items] == ["is not a regular file"]


def test_a_huge_file_is_refused_without_reading_it(mini_site: Path) -> None:
    with NARRATIVE.open("r+b") as f:
        f.truncate(512 * 1024 * 1024)  # sparse: takes no disk space
    tracemalloc.start()
    try:
        result = run_check("--strict")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result == (1, [f"content/stories/alpha/explainer.md: error: the file is {512 * 1024 * 1024} bytes; at most {NARRATIVE_LIMIT} are allowed"])
    assert peak < 32 * 1024 * 1024  # the file's 512 MB were never read


def test_deep_nesting_under_the_size_limit_stops_at_once(mini_site: Path) -> None:
    work = []
    for depth in (100, YAML_LIMIT - 100):
        FACTS.write_text("topics: " + "[" * depth + "\n", encoding="utf-8")
        steps, outcome = lines_run(yamlread._Builder.run, lambda: run_check("--strict"))
        work.append(steps)
        assert outcome == (1, ["content/stories/alpha/facts.yaml:1:28: error: nesting deeper than 20 levels is not allowed"])
    assert work[1] <= work[0]  # a file as deep as the size limit allows is no more work than a shallow one


# --- names and files ------------------------------------------------------------------------------


def test_story_folders_differing_only_by_case(mini_site: Path) -> None:
    shutil.copytree(ALPHA, "content/stories/Alpha")
    assert run_check("--strict") == (
        1,
        [
            f"content/stories/Alpha: error: 'Alpha' is not a valid story folder name: {NAME_RULE}",
            "content/stories/alpha: error: story folder 'alpha' differs from 'Alpha' only by case or Unicode normalisation",
        ],
    )


def test_editor_droppings_are_ignored_everywhere_even_as_dangling_symlinks(mini_site: Path) -> None:
    for folder in (Path("content"), Path("content/stories"), ALPHA):
        os.symlink("editor@host.12345:1700000000", folder / ".#facts.yaml")  # how Emacs writes its lock files
        os.symlink("nowhere", folder / "x.swp")
        for name in ("facts.yaml~", "#facts.yaml#", "4913", "y.swp", "y.swx", "z.tmp", ".DS_Store", "Thumbs.db", ".hidden"):
            (folder / name).write_bytes(b"junk \xff\x00 not UTF-8")
        (folder / ".git").mkdir()
        os.symlink("/", folder / ".git" / "root")
    assert run_check("--strict") == (0, [])


# --- output formats and usage ---------------------------------------------------------------------


def test_json_format_gives_the_same_diagnostics_as_text(mini_site: Path) -> None:
    Path("content/site.yaml").unlink()
    _break_the_mini_site()
    args = ("check", "--content", "content", "--templates", str(TEMPLATES), "--strict")
    status, _, err = run(*args)
    text = [line for line in err.splitlines() if not line.startswith("check ")]
    json_status, out, json_err = run(*args, "--format", "json")
    diagnostics = json.loads(out)
    assert (status, json_status, json_err) == (1, 1, "")
    assert text == ["content/site.yaml: error: missing site.yaml", *BROKEN]
    assert diagnostics[0] == {"path": "content/site.yaml", "line": None, "column": None, "severity": "error", "message": "missing site.yaml"}
    assert isinstance(diagnostics, list)
    rebuilt = []
    for d in diagnostics:
        where = d["path"] if d["line"] is None else f"{d['path']}:{d['line']}:{d['column']}"
        rebuilt.append(f"{where}: {d['severity']}: {d['message']}")
    assert rebuilt == text


@pytest.mark.parametrize(
    "argv",
    [
        ["build", "--templates", str(TEMPLATES), "--out", "content"],
        ["build", "--templates", str(TEMPLATES), "--out", "."],
        ["build", "--templates", str(TEMPLATES), "--out", "content/stories/site"],
        ["build", "--out", "templates"],
        ["build", "--out", "templates/static/site"],
        ["check", "--content", "missing", "--templates", str(TEMPLATES)],
        ["build", "--content", "missing", "--templates", str(TEMPLATES), "--out", "site"],
    ],
    ids=[
        "out-is-content",
        "out-holds-content",
        "out-inside-content",
        "out-is-templates",
        "out-inside-templates",
        "check-no-content",
        "build-no-content",
    ],
)
def test_usage_errors_exit_2_and_write_nothing(mini_site: Path, argv: list[str]) -> None:
    shutil.copytree(TEMPLATES, mini_site / "templates")
    before = listing(mini_site)
    status, out, err = run(*argv)
    assert status == 2
    assert err.startswith("error: ")
    assert out == ""
    assert listing(mini_site) == before


def test_missing_out_folder_and_parents_are_created(mini_site: Path) -> None:
    status, _, _ = run("build", "--templates", str(TEMPLATES), "--out", "deep/er/site")
    assert status == 0
    assert (mini_site / "deep/er/site/alpha/index.html").is_file()


# --- dates ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("published", "updated"),
    [
        ("2025-11-27", "2025-11-27"),
        ("2025-11-27T10:00:00Z", "2025-11-27T12:00:00+02:00"),  # the same instant
        ("2025-11-27T23:30:00-05:00", "2025-11-27"),  # a date alone: calendar dates compare, and they are equal
        ("2025-11-27", "2025-11-27T00:00:00+14:00"),
    ],
)
def test_updated_equal_to_published_is_fine(mini_site: Path, published: str, updated: str) -> None:
    edit(FACTS, "published: 2025-11-27", f"published: {published}\nupdated: {updated}")
    assert run_check("--strict") == (0, [])
