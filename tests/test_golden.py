"""The fixture site built and compared file by file with a reviewed expected tree.

After a deliberate change to the output, rewrite the expected files with
``pytest tests/test_golden.py --update-golden`` and review the diff before committing.
"""

from __future__ import annotations

import shutil

import pytest

from explainer.builder import build

from .conftest import FIXTURES, TEMPLATES, snapshot

GOLDEN = FIXTURES / "golden"


def test_golden_site(request: pytest.FixtureRequest) -> None:
    result = build(str(GOLDEN / "content"), str(TEMPLATES))
    assert result.report.sorted() == []
    expected_dir = GOLDEN / "expected"
    if request.config.getoption("--update-golden"):
        shutil.rmtree(expected_dir, ignore_errors=True)
        for rel, data in result.files.items():
            target = expected_dir / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
    expected = snapshot(expected_dir)
    assert sorted(result.files) == sorted(expected), "the set of output files differs"
    for rel, data in expected.items():
        assert result.files[rel].decode() == data.decode(), f"{rel} differs from the golden file"


def test_drafts_are_rendered_only_on_request() -> None:
    without = build(str(GOLDEN / "content"), str(TEMPLATES))
    assert not any(p.startswith("draft-story/") for p in without.files)
    assert b"draft-story" not in without.files["feed.xml"]
    from explainer.render import RenderOptions

    with_drafts = build(str(GOLDEN / "content"), str(TEMPLATES), RenderOptions(drafts=True))
    page = with_drafts.files["draft-story/index.html"].decode()
    assert 'class="draft-label"' in page
