"""``python build.py new SLUG``: a draft story that already passes ``check --strict``."""

from __future__ import annotations

import datetime as dt
import json
import os

from .diagnostics import Report
from .files import display
from .loader import RESERVED_SLUGS, read_yaml
from .schema import NAME_RULE, is_name
from .yamlread import YMap

FACTS = """\
# The story's facts. Every claim below is tied to the sources that support it.
# See the README ("Writing an explainer") for every key.
headline: "Replace with the headline (at most 110 characters)"
summary: "Replace with one or two sentences that say what happened and why it matters."
published: {today}
draft: true
topics: []
sources:
  first-source:
    publisher: {publisher}
    title: "Replace with the title of the article you rely on"
    url: {url}
    relation: reporting
facts:
  - id: first-fact
    text: "Replace with one sentence that the source supports."
    sources: [first-source]
takeaways: [first-fact]
unknowns:
  - text: "Replace with a question the reporting cannot answer yet."
"""

EXPLAINER = """\
Replace this with the opening paragraph; end each claim with its citation [#first-fact].

## Why this matters

Replace this with why a reader should care.
"""


class ScaffoldError(Exception):
    """The story cannot be created."""


def new_story(content_dir: str, slug: str, today: dt.date | None = None) -> list[str]:
    """Create content/stories/SLUG with a draft facts.yaml and explainer.md; return the paths made."""
    if not is_name(slug):
        raise ScaffoldError(f"'{slug}' is not a valid story name: {NAME_RULE}")
    if slug in RESERVED_SLUGS:
        raise ScaffoldError(f"'{slug}' is reserved for the site's own pages; choose another story name")
    folder = os.path.join(content_dir, "stories", slug)
    if os.path.lexists(folder):
        raise ScaffoldError(f"{display(folder)} already exists")
    publisher, url = _first_publisher(content_dir)
    os.makedirs(folder)
    made = []
    day = (today or dt.date.today()).isoformat()
    for name, text in (("facts.yaml", FACTS.format(today=day, publisher=publisher, url=json.dumps(url))), ("explainer.md", EXPLAINER)):
        path = os.path.join(folder, name)
        with open(path, "x", encoding="utf-8", newline="\n") as f:
            f.write(text)
        made.append(display(path))
    return made


def _first_publisher(content_dir: str) -> tuple[str, str]:
    """The first publisher of publishers.yaml, so the new story's source names a real one."""
    path = os.path.join(content_dir, "publishers.yaml")
    report = Report()
    doc = read_yaml(path, display(path), report) if os.path.isfile(path) else None
    root = doc.root if doc is not None else None
    if not isinstance(root, YMap) or not root.items:
        raise ScaffoldError(f"{display(path)} must list at least one publisher before a story can cite it")
    key, value = root.items[0]
    url = value.get("url") if isinstance(value, YMap) else None
    # A JSON string is a YAML double-quoted scalar: any URL is written back exactly.
    return key.value, getattr(url, "value", "https://example.org/")
