"""Fuzzing: whatever the files say, a build ends in outputs or in diagnostics, never in an exception."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from explainer.builder import build
from explainer.diagnostics import Report
from explainer.narrative import parse as parse_narrative
from explainer.yamlread import parse as parse_yaml

from .conftest import FIXTURES, TEMPLATES

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Pieces YAML and the content format are made of, so generated text reaches deep into both.
YAML_BITS = st.sampled_from([
    "headline", "summary", "published", "sources", "facts", "takeaways", "quotes", "unknowns", "corrections",
    "id", "text", "status", "date", "via", "publisher", "url", "wire", "daily", "alpha-happened", ":", ": ", "-", "- ",
    "\n", "\n  ", "\n    ", "[", "]", "{", "}", ",", "'", '"', "#", " #", "&a", "*a", "!!str", "!x", "---", "...", "|", ">",
    "2025-11-27", "2025-02-30", "yes", "no", "~", "1.10", "010", "12:30", "true", "\t", "\\", "\x00", "\x85", "é", "😀",
    "https://x.example/", "javascript:alert(1)", "<script>", "{{ 7 }}",
])
MD_BITS = st.sampled_from([
    "[@wire]", "[@daily; @wire]", "[#alpha-happened]", "[#", "[@", "]", "[", "(", ")", "[x](javascript:a)", "[x](//e)",
    "<b>", "</script>", "<!--", "## Why this matters\n\n", "## ", "# ", "\n\n", "\n", "> ", "- ", "1. ", "| a | b |\n| - | - |\n",
    "`", "*", "_", "\\", "&#58;", "%6A", "text ", "é", "😀", "\r\n", "\r", "    ", "```\n",
])


def yaml_text() -> st.SearchStrategy[str]:
    return st.one_of(st.text(max_size=300), st.lists(YAML_BITS, max_size=60).map("".join))


def md_text() -> st.SearchStrategy[str]:
    return st.one_of(st.text(max_size=300), st.lists(MD_BITS, max_size=60).map("".join))


@FUZZ
@given(yaml_text())
def test_yaml_reader_never_raises(text: str) -> None:
    parse_yaml("f.yaml", text, Report())


@FUZZ
@given(md_text())
def test_narrative_parser_never_raises(text: str) -> None:
    parse_narrative(text, "e.md", Report())


def build_with(facts: str | None = None, narrative: str | None = None, raw: bytes | None = None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        content = Path(tmp) / "content"
        shutil.copytree(FIXTURES / "mini" / "content", content)
        story = content / "stories" / "alpha"
        if facts is not None:
            (story / "facts.yaml").write_text(facts, encoding="utf-8", errors="surrogatepass")
        if narrative is not None:
            (story / "explainer.md").write_text(narrative, encoding="utf-8", errors="surrogatepass")
        if raw is not None:
            (story / "facts.yaml").write_bytes(raw)
        result = build(str(content), str(TEMPLATES))
        assert result.ok() or result.report.failed()
        assert bool(result.files) == result.ok()


@FUZZ
@given(yaml_text())
def test_any_facts_file_ends_in_a_build_or_diagnostics(text: str) -> None:
    build_with(facts=text)


@FUZZ
@given(md_text())
def test_any_narrative_ends_in_a_build_or_diagnostics(text: str) -> None:
    build_with(narrative=text)


@FUZZ
@given(st.binary(max_size=400))
def test_any_bytes_end_in_diagnostics(data: bytes) -> None:
    build_with(raw=data)


def mutated_facts() -> st.SearchStrategy[str]:
    """The valid facts file with one line replaced, dropped or doubled: near-valid input finds deep paths."""
    base = (FIXTURES / "mini" / "content" / "stories" / "alpha" / "facts.yaml").read_text().splitlines()

    def mutate(args: tuple[int, int, str]) -> str:
        index, how, line = args
        lines = list(base)
        i = index % len(lines)
        if how == 0:
            lines[i] = line
        elif how == 1:
            del lines[i]
        else:
            lines.insert(i, lines[i])
        return "\n".join(lines) + "\n"

    return st.tuples(st.integers(0, 100), st.integers(0, 2), st.lists(YAML_BITS, max_size=8).map("".join)).map(mutate)


@FUZZ
@given(mutated_facts())
def test_near_valid_facts_end_in_a_build_or_diagnostics(text: str) -> None:
    build_with(facts=text)
