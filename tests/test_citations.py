"""Citation markup in markdown-it's fixture format: narrative in, narrative HTML out.

Each case is rendered through the real loader and the page's citer, so numbering, labels and links
are the ones readers get. The story's sources live in fixtures/citations/facts.yaml.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from markdown_it.utils import read_fixture_file

from explainer.diagnostics import Report
from explainer.loader import load_content
from explainer.narrative import render_section
from explainer.pages import Citer

from .conftest import FIXTURES

CASES = read_fixture_file(FIXTURES / "citations" / "cases.md")


def render_narrative(tmp_path: Path, text: str) -> str:
    """The narrative's HTML (without the required closing section) from a story using the fixture facts."""
    shutil.copytree(FIXTURES / "mini" / "content", tmp_path / "content")
    story_dir = tmp_path / "content" / "stories" / "alpha"
    shutil.copy(FIXTURES / "citations" / "facts.yaml", story_dir / "facts.yaml")
    (story_dir / "explainer.md").write_text(text + "\n## Why this matters\n\nClosing.\n", encoding="utf-8")
    report = Report()
    content = load_content(str(tmp_path / "content"), report)
    assert [d for d in report.sorted() if d.severity == "error"] == []
    story = content.stories[0]
    citer = Citer(story, content.publishers)
    sections = [s for s in story.narrative.sections if not s.is_why]
    return "".join(render_section(s, {"cite": citer.token}) for s in sections)


@pytest.mark.parametrize(("line", "title", "text", "expected"), CASES, ids=[c[1] for c in CASES])
def test_citation_fixture(tmp_path: Path, line: int, title: str, text: str, expected: str) -> None:
    assert render_narrative(tmp_path, text) == expected
