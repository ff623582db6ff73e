"""Text from YAML never reaches a page, the feed, JSON-LD or facts.json unescaped.

Property: whatever text an author puts in any text field, the build either fails with diagnostics
or produces pages whose markup structure is exactly that of a build with harmless text, whose
JSON-LD parses back to the same text, and whose feed is well-formed XML of the same shape.
"""

from __future__ import annotations

import json
import tempfile
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from explainer.builder import build

from .conftest import TEMPLATES

SITE = """\
title: {t}
description: {t}
base_url: https://x.example.org
publisher:
  name: {t}
  url: https://x.example.org/
"""
PUBLISHERS = """\
pub:
  name: {t}
  url: https://p.example.com/
"""
FACTS = """\
headline: {t}
summary: {t}
published: 2025-01-01
byline: {t}
sources:
  s:
    publisher: pub
    title: {t}
    author: {t}
    missing_url_reason: {t}
facts:
  - id: f
    text: {t}
    note: {t}
    sources: [s]
    status: disputed
    date: 2025-01-01
takeaways: [f]
quotes:
  - text: {t}
    speaker: {t}
    context: {t}
    source: s
unknowns:
  - text: {t}
corrections:
  - date: 2025-01-02
    text: {t}
"""
NARRATIVE = "Said [@s].\n\n## Why this matters\n\nBecause.\n"


class Shape(HTMLParser):
    """Records the markup of a page: every tag with its attribute names, every comment and declaration."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.shape: list[tuple[str, ...]] = []
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.shape.append((tag, *sorted(name for name, _ in attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self.shape.append(("/" + tag,))
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.scripts.append(data)

    def handle_comment(self, data: str) -> None:
        self.shape.append(("!--",))

    def handle_decl(self, decl: str) -> None:
        self.shape.append(("!" + decl.lower(),))


def shape_of(html: str) -> Shape:
    parser = Shape()
    parser.feed(html)
    parser.close()
    return parser


def xml_shape(data: bytes) -> list[tuple[str, tuple[str, ...]]]:
    return [(el.tag, tuple(sorted(el.attrib))) for el in ET.fromstring(data).iter()]


def build_with(text: str) -> tuple[dict[str, bytes], bool]:
    """Build a site with the text in every text field; (outputs, ok)."""
    literal = json.dumps(text, ensure_ascii=False)  # a JSON string is a YAML double-quoted scalar
    with tempfile.TemporaryDirectory() as tmp:
        content = Path(tmp) / "content"
        story = content / "stories" / "s"
        story.mkdir(parents=True)
        (content / "site.yaml").write_text(SITE.format(t=literal), encoding="utf-8")
        (content / "publishers.yaml").write_text(PUBLISHERS.format(t=literal), encoding="utf-8")
        (story / "facts.yaml").write_text(FACTS.format(t=literal), encoding="utf-8")
        (story / "explainer.md").write_text(NARRATIVE, encoding="utf-8")
        result = build(str(content), str(TEMPLATES))
    return result.files, result.ok()


REFERENCE, REFERENCE_OK = build_with("harmless")


def check_outputs(files: dict[str, bytes], text: str) -> None:
    assert sorted(files) == sorted(REFERENCE)
    for path, data in files.items():
        if path.endswith(".html"):
            page, reference = shape_of(data.decode()), shape_of(REFERENCE[path].decode())
            assert page.shape == reference.shape, f"markup of {path} changed"
            for script in page.scripts:
                assert "</" not in script and "<!--" not in script
                ld = json.loads(script)
                if ld.get("@type") == "NewsArticle":
                    assert ld["headline"] == text
        elif path.endswith(".xml"):
            assert xml_shape(data) == xml_shape(REFERENCE[path])
        elif path.endswith(".json"):
            assert json.loads(data)["headline"] == text


def test_reference_build_succeeds() -> None:
    assert REFERENCE_OK


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet=st.characters(exclude_categories=("Cs",)), min_size=1, max_size=100))
def test_any_text_is_escaped_everywhere(text: str) -> None:
    files, ok = build_with(text)
    if not ok:
        return  # refused with diagnostics (empty, control characters, ...): nothing was rendered
    check_outputs(files, text)


HOSTILE = [
    "</script><script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "'><svg onload=alert(1)>",
    "<!-- comment --> & &amp; &#x3C;",
    "{{ 7 * 7 }} {% if true %}yes{% endif %}",
    "]]><![CDATA[ <x/>",
    "\u2028\u2029 line separators",
]


def test_known_hostile_strings_stay_text() -> None:
    for text in HOSTILE:
        files, ok = build_with(text)
        assert ok, text
        check_outputs(files, text)
        # facts.json is data (application/json) and keeps the text exactly; markup outputs escape it.
        markup = b"".join(data for path, data in files.items() if path.endswith((".html", ".xml"))).decode()
        assert "<script>alert" not in markup
        assert "<img" not in markup and "<svg" not in markup
        if "{{" in text:
            assert "{{ 7 * 7 }}" in markup  # template syntax in content is text, never evaluated
