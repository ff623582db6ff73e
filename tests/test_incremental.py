"""A build that reuses cached results equals a full build of the same input, after every kind of edit."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from explainer.builder import build
from explainer.cache import BuildCache
from explainer.writer import update_site, write_site

from .conftest import FIXTURES, TEMPLATES, snapshot


def replace(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, (path, old)
    path.write_text(text.replace(old, new, 1), encoding="utf-8")




Step = Callable[[Path], None]
STORY = "content/stories/first-story"
STEPS: list[tuple[str, Step]] = [
    ("narrative edit", lambda r: replace(r / STORY / "explainer.md", "Pads are scarce", "Pads are rare")),
    ("headline edit", lambda r: replace(r / STORY / "facts.yaml", "A pad was damaged", "A launch pad was damaged")),
    ("fact status edit", lambda r: replace(r / STORY / "facts.yaml", "status: unverified", "status: reported")),
    ("story added", lambda r: shutil.copytree(r / "content/stories/second-story", r / "content/stories/third-story")),
    ("story deleted", lambda r: shutil.rmtree(r / "content/stories/third-story")),
    ("story renamed", lambda r: (r / "content/stories/second-story").rename(r / "content/stories/renamed-story")),
    ("draft published", lambda r: replace(r / "content/stories/draft-story/facts.yaml", "draft: true", "draft: false")),
    ("template edit", lambda r: replace(r / "templates/story.html", "Key takeaways", "The key points")),
    ("macro template edit", lambda r: replace(r / "templates/_macros.html", "No explainers yet.", "Nothing yet.")),
    ("css edit", lambda r: replace(r / "templates/static/style.css", "--accent: #0b57a4;", "--accent: #0a4f96;")),
    ("publisher renamed", lambda r: replace(r / "content/publishers.yaml", "name: The Daily", "name: The Daily Paper")),
    ("site title edit", lambda r: replace(r / "content/site.yaml", "title: Golden explainers", "title: Golden")),
    ("broken save", lambda r: replace(r / STORY / "facts.yaml", "sources: [daily-report]\n    status", "sources: [nowhere]\n    status")),
    ("fixed save", lambda r: replace(r / STORY / "facts.yaml", "sources: [nowhere]", "sources: [daily-report]")),
    ("same bytes rewritten", lambda r: (r / STORY / "facts.yaml").write_bytes((r / STORY / "facts.yaml").read_bytes())),
    ("topic added", lambda r: replace(r / STORY / "facts.yaml", "topics: [space, infrastructure]", "topics: [space, infrastructure, policy]")),
]


@pytest.fixture
def site_root(tmp_path: Path) -> Path:
    shutil.copytree(FIXTURES / "golden" / "content", tmp_path / "content")
    shutil.copytree(TEMPLATES, tmp_path / "templates")
    return tmp_path


def test_cached_builds_equal_full_builds_after_every_edit(site_root: Path) -> None:
    cache = BuildCache()
    content, templates = str(site_root / "content"), str(site_root / "templates")
    incremental = build(content, templates, cache=cache)
    written = incremental.files
    write_site(str(site_root / "site"), written)
    for name, step in STEPS:
        step(site_root)
        incremental = build(content, templates, cache=cache)
        full = build(content, templates)
        assert incremental.files == full.files, name
        assert incremental.report.sorted() == full.report.sorted(), name
        if full.ok():
            # The preview updates its folder in place; the result must be what a fresh write gives.
            update_site(str(site_root / "site"), incremental.files, written)
            written = incremental.files
            write_site(str(site_root / "fresh"), full.files)
            assert snapshot(site_root / "site", skip_marker=True) == snapshot(site_root / "fresh", skip_marker=True), name
    assert full.ok()


def test_cache_forgets_what_the_site_no_longer_has(site_root: Path) -> None:
    """However many saves, the cache holds the site plus at most a bounded slack of stale entries."""
    from explainer.cache import STALE_SLACK

    cache = BuildCache()
    content, templates = str(site_root / "content"), str(site_root / "templates")
    build(content, templates, cache=cache)
    memos = (cache.pages, cache.results, cache.files)
    before = [len(m.entries) for m in memos]
    narrative = site_root / STORY / "explainer.md"
    original = narrative.read_text()
    for i in range(3 * STALE_SLACK):
        narrative.write_text(original.replace("Pads are", f"Pads ({i}) are"))
        build(content, templates, cache=cache)
        for memo, count in zip(memos, before, strict=True):
            assert len(memo.entries) <= count + STALE_SLACK + 1
