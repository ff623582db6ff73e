"""Defects found in review, each pinned by a test of the behaviour the format requires."""

from __future__ import annotations

import io
import re
import shutil
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
import yaml

from explainer import checks, narrative, yamlread
from explainer.builder import build
from explainer.cache import BuildState
from explainer.cli import main
from explainer.diagnostics import Report

from .conftest import TEMPLATES, lines_run
from .test_invalid_sites import run_check

FACTS = "content/stories/alpha/facts.yaml"
NARRATIVE = "content/stories/alpha/explainer.md"


def run(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    with redirect_stdout(out), redirect_stderr(out):
        status = main(list(args))
    return status, out.getvalue()


def replace(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def test_base_url_cannot_smuggle_markup_into_any_page(mini_site: Path) -> None:
    replace(mini_site / "content/site.yaml", "base_url: https://mini.example.org", 'base_url: "https://mini.example.org/a\\"><script>alert(1)</script>/"')
    status, lines = run_check()
    assert status == 1 and len(lines) == 1 and lines[0].startswith("content/site.yaml:3:11: error: ") and "cannot be a base_url" in lines[0]
    assert run("build", "--templates", str(TEMPLATES), "--base-url", 'https://x.example/"><script>')[0] == 2
    assert run("build", "--templates", str(TEMPLATES), "--base-url", "https://x.example/news?x=1#top")[0] == 2


def test_the_404_page_escapes_its_root(mini_site: Path) -> None:
    replace(mini_site / "content/site.yaml", "base_url: https://mini.example.org", "base_url: https://mini.example.org/a&b/")
    result = build("content", str(TEMPLATES))
    page = result.files["404.html"].decode()
    assert 'href="/a&amp;b/static/style.' in page and 'href="/a&b/' not in page


def test_a_failed_template_fragment_is_never_reused_by_a_cached_build(mini_site: Path) -> None:
    shutil.copytree(TEMPLATES, mini_site / "templates")
    replace(mini_site / "templates/_macros.html", "<article>", "<article>{{ story.nope }}")
    state = BuildState(in_memory=True)
    assert not build("content", "templates", state=state).ok()
    (mini_site / NARRATIVE).write_text((mini_site / NARRATIVE).read_text() + "\nMore [@wire].\n")
    cached, full = build("content", "templates", state=state), build("content", "templates")
    assert not full.ok()
    assert cached.files == full.files and cached.report.sorted() == full.report.sorted()


def test_template_errors_inside_macros_point_at_the_macro_line(mini_site: Path) -> None:
    shutil.copytree(TEMPLATES, mini_site / "templates")
    macros = mini_site / "templates/_macros.html"
    lines = macros.read_text().splitlines()
    number = next(i for i, line in enumerate(lines, 1) if "<article>" in line)
    replace(macros, "<article>", "<article>{{ story.nope }}")
    status, output = run("check", "--templates", "templates")
    assert status == 1
    assert f"templates/_macros.html:{number}: error: template error: UndefinedError" in output


def test_a_list_macro_that_is_missing_is_named_in_the_error(mini_site: Path) -> None:
    shutil.copytree(TEMPLATES, mini_site / "templates")
    replace(mini_site / "templates/_macros.html", "macro story_card(", "macro story_tile(")
    status, output = run("check", "--templates", "templates")
    assert status == 1
    message = "error: template error: UndefinedError: the template '_macros.html' does not export the requested name 'story_card'"
    assert f"templates/_macros.html: {message}" in output


@pytest.mark.parametrize("text", [
    "summary: A short\n  \tsummary of alpha.\n",
    "topics: [space,\n\tnews]\n",
    "headline: Alpha happened\t\n",
    "a:\n\tb: 1\n",
    'a: "x\n\ty"\n',
])
def test_tab_verdicts_do_not_depend_on_which_yaml_parser_is_installed(text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with_fast, with_pure = Report(), Report()
    fast_doc = yamlread.parse("f.yaml", text, with_fast)
    monkeypatch.delattr(yaml, "CSafeLoader")  # as if PyYAML were built without libyaml
    pure_doc = yamlread.parse("f.yaml", text, with_pure)
    assert with_fast.sorted() == with_pure.sorted()
    assert (fast_doc.root is None) == (pure_doc.root is None)


ROOT_DIR = Path(__file__).resolve().parent.parent
SNIPPETS = [
    "a: 1\na: 2\nb: {a: x, a: y}\n",  # duplicate keys, block and flow
    "a: &x [1, 2]\nb: !!str 3\nc: !custom {d: e}\n",  # anchors and tags: reported, not fatal
    "a: *x\n",
    "a: 1\n---\nb: 2\n",
    'a: "esc\\u0007aped"\nb: \'single\'\nc: |\n  block\n  text\nd: >-\n  folded\n',
    "? [complex]\n: key\n{x: 1}: y\n",
    "a: line\u2028separated\r\nb: [1,\r\n  2]\rc: end # comment\n",
    "- [[[[[[[[[[[[[[[[[[[[[[deep]]]]]]]]]]]]]]]]]]]]]\n",
    "",
    "# only a comment\n",
    "just text\n",
]


@pytest.mark.parametrize("name", [*(str(p.relative_to(ROOT_DIR)) for top in ("content", "tests") for p in sorted((ROOT_DIR / top).rglob("*.yaml"))),
                                  *(f"snippet {i}" for i in range(len(SNIPPETS)))])
def test_both_yaml_parsers_build_the_same_tree_and_report_the_same(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # The libyaml events are only a quicker way to the same result; the pure-Python parser's
    # is the reference (it alone runs where PyYAML was built without libyaml).
    text = SNIPPETS[int(name.split()[1])] if name.startswith("snippet ") else (ROOT_DIR / name).read_text()
    with_fast, with_pure = Report(), Report()
    fast_doc = yamlread.parse("f.yaml", text, with_fast)
    monkeypatch.delattr(yaml, "CSafeLoader")
    pure_doc = yamlread.parse("f.yaml", text, with_pure)
    assert fast_doc == pure_doc
    assert with_fast.sorted() == with_pure.sorted()


def test_many_tab_indented_lines_are_reported_from_one_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    text = "".join(f"k{i}: {'x' * 40}\n" for i in range(5000)) + "a:\n" + "\tb: 1\n" * 200
    report = Report()
    parses: list[str] = []
    real_parse = yaml.parse
    monkeypatch.setattr(yaml, "parse", lambda stream, Loader: parses.append(Loader.__name__) or real_parse(stream, Loader=Loader))
    yamlread.parse("f.yaml", text, report)
    assert parses == ["SafeLoader"]  # not one parse per tab: the later tabs are found by a scan of the lines
    tabs = [d for d in report.sorted() if "tabs are not allowed" in d.message]
    assert len(tabs) == yamlread.MAX_TAB_ERRORS and tabs[0].pos.line == 5002


def test_a_long_via_chain_builds_and_the_cycle_check_is_linear(mini_site: Path) -> None:
    n = 1500
    sources = "".join(
        f"  s{i}:\n    publisher: daily\n    url: https://daily.example.com/{i}\n" + (f"    via: s{i + 1}\n" if i < n - 1 else "")
        for i in range(n)
    )
    facts = (mini_site / FACTS).read_text()
    facts = re.sub(r"sources:\n(  .*\n|    .*\n)*?facts:", "sources:\n" + sources + "facts:", facts, count=1)
    facts = facts.replace("sources: [wire, daily]", "sources: [s0]").replace("[#alpha-happened]", "[#alpha-happened]")
    (mini_site / FACTS).write_text(facts)
    (mini_site / NARRATIVE).write_text("Alpha happened [#alpha-happened].\n\n## Why this matters\n\nIt matters.\n")
    result = build("content", str(TEMPLATES))
    assert result.ok(), result.report.sorted()[:3]
    assert ", via ".join(["The Daily"] * 3) in result.files["alpha/index.html"].decode()
    cyclic = facts.replace("    url: https://daily.example.com/1499\n", "    url: https://daily.example.com/1499\n    via: s0\n")
    (mini_site / FACTS).write_text(cyclic)
    steps, (status, lines) = lines_run(checks._check_via_cycles, run_check)
    assert status == 1
    assert next(line for line in lines if "circle" in line).endswith("s1498 -> s1499 -> s0")
    # Linear: each source is walked once, not once per source that leads to it (n² = 2 250 000).
    assert steps < 20 * n


def test_a_citation_inside_an_image_description_is_an_error(mini_site: Path) -> None:
    (mini_site / NARRATIVE).write_text("Alpha [@wire] ![pic [#no-such-fact]](pic.png)\n\n## Why this matters\n\nIt matters.\n")
    status, lines = run_check()
    assert status == 1
    assert f"{NARRATIVE}:1:15: error: a citation inside an image's description is not allowed; cite after the image" in lines


def test_a_file_full_of_control_characters_is_refused_in_one_pass_with_few_lines(mini_site: Path) -> None:
    work = []
    for bad in (20_000, 40_000):
        (mini_site / FACTS).write_text("a: " + "\x01\n" * bad)
        work.append(lines_run(yamlread._prescan, run_check)[0])
    assert work[1] < 2.2 * work[0]  # twice the characters, twice the work: one pass, not one per character
    (mini_site / FACTS).write_text("a: " + "\x01" * 1_000_000)
    status, lines = run_check()
    assert status == 1 and len(lines) == yamlread.MAX_CHARACTER_ERRORS + 1
    assert lines[1] == f"{FACTS}:1:4: error: control character U+0001 is not allowed"
    assert lines[0] == f"{FACTS}: error: {1_000_000 - yamlread.MAX_CHARACTER_ERRORS} more characters that are not allowed"


def test_noncharacters_are_located_on_one_line(mini_site: Path) -> None:
    replace(mini_site / FACTS, "text: Alpha happened on Thursday.", "text: Alpha happened \ufffe on Thursday.")
    status, lines = run_check()
    assert status == 1
    assert lines == [f"{FACTS}:15:26: error: character U+FFFE is not allowed"]


def test_narrative_headings_never_take_the_page_s_own_ids(mini_site: Path) -> None:
    (mini_site / NARRATIVE).write_text(
        "Alpha [@wire].\n\n## Source wire\n\nA [@daily].\n\n## Cite 1\n\nB [@wire].\n\n## Fact alpha happened\n\nC [@wire].\n\n"
        "## Takeaways title\n\nD [@wire].\n\n## Why this matters\n\nOne.\n\n## Why it matters\n\nTwo.\n"
    )
    page = build("content", str(TEMPLATES)).files["alpha/index.html"].decode()
    ids = re.findall(r'\sid="([^"]+)"', page)
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
    assert 'href="#source-wire"' in page and 'id="source-wire"' in page


def test_templates_in_a_symlinked_folder_are_part_of_the_cache_key(mini_site: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    shutil.copytree(TEMPLATES, mini_site / "templates")
    partials = tmp_path_factory.mktemp("partials")
    (partials / "note.html").write_text("<p>first note</p>\n")
    (mini_site / "templates/partials").symlink_to(partials, target_is_directory=True)
    replace(mini_site / "templates/story.html", '<p class="data-link">', '{% include "partials/note.html" %}\n<p class="data-link">')
    state = BuildState(in_memory=True)
    assert "first note" in build("content", "templates", state=state).files["alpha/index.html"].decode()
    (partials / "note.html").write_text("<p>second note</p>\n")
    cached, full = build("content", "templates", state=state), build("content", "templates")
    assert cached.files == full.files
    assert "second note" in cached.files["alpha/index.html"].decode()


def test_new_refuses_reserved_names_and_writes_any_url_safely(mini_site: Path) -> None:
    assert run("new", "topics")[0] == 2
    replace(mini_site / "content/publishers.yaml", "url: https://wire.example.com/", "url: 'https://wire.example.com/a\\b'")
    assert run("new", "fresh")[0] == 0
    assert run("check", "--strict", "--templates", str(TEMPLATES)) == (0, "check passed: 0 error(s), 0 warning(s)\n")


def test_a_symlink_inside_a_reserved_story_folder_is_reported(mini_site: Path) -> None:
    stories = mini_site / "content/stories"
    (stories / "topics").mkdir()
    (stories / "topics/facts.yaml").symlink_to(stories / "alpha/facts.yaml")
    status, lines = run_check()
    assert status == 1
    assert "content/stories/topics/facts.yaml: error: symbolic links are not allowed under content/ (they are never followed)" in lines


def test_a_citation_inside_a_link_s_text_is_an_error_and_the_link_is_kept(mini_site: Path) -> None:
    (mini_site / NARRATIVE).write_text("Alpha [see [@wire]](https://x.example/) [@wire].\n\n## Why this matters\n\nIt matters.\n")
    status, lines = run_check()
    assert status == 1
    assert lines == [f"{NARRATIVE}:1:12: error: a citation inside a link's text is not allowed; cite after the link"]


def test_many_raw_html_warnings_are_located_in_linear_time(mini_site: Path) -> None:
    work = []
    for count in (2000, 4000, 20000):
        (mini_site / NARRATIVE).write_text("Alpha [@wire] " + "<b>x\n" * count + "\n## Why this matters\n\nIt matters.\n")
        steps, (status, lines) = lines_run(narrative._Locator.inline, run_check)
        work.append(steps)
    assert work[1] < 2.2 * work[0]  # twice the warnings, twice the work: the paragraph's lines are found once
    assert status == 0  # warnings only (run_check is not --strict here)
    assert len(lines) == 20000 and lines[-1] == f"{NARRATIVE}:20000:1: warning: raw HTML is not rendered; it is shown as text"
