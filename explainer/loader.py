"""Read content/ into the typed model: site, publishers and stories, with every problem reported."""

from __future__ import annotations

import os
import unicodedata
from collections import defaultdict
from dataclasses import dataclass, field

from . import narrative as narrative_mod
from .diagnostics import Pos, Report
from .files import NARRATIVE_LIMIT, YAML_LIMIT, check_tree, display, list_dir, read_text
from .model import Publisher, SiteConfig, StoryFacts
from .narrative import Narrative
from .schema import NAME_RULE, Converter, is_name
from .yamlread import YDoc, YMap
from .yamlread import parse as parse_yaml

# Top-level output folders a story's URL must not take.
RESERVED_SLUGS = frozenset({"topics", "sources", "static"})


@dataclass
class Story:
    """One story folder: its facts and its narrative."""

    slug: str
    facts_path: str
    narrative_path: str
    facts: StoryFacts
    narrative: Narrative


@dataclass
class Content:
    """Everything under content/, converted."""

    site: SiteConfig | None = None
    publishers: dict[str, Publisher] = field(default_factory=dict)
    stories: list[Story] = field(default_factory=list)


def read_yaml(path: str, shown: str, report: Report) -> YDoc | None:
    """Read and parse one YAML file strictly; None when it is unreadable."""
    text = read_text(path, shown, YAML_LIMIT, report)
    if text is None:
        return None
    return parse_yaml(shown, text, report)


def load_content(content_dir: str, report: Report) -> Content:
    """Read the whole content folder; problems go to the report, nothing is skipped silently."""
    shown_root = display(content_dir) or "."
    content = Content()
    if not os.path.isdir(content_dir) or os.path.islink(content_dir):
        report.error(Pos(shown_root), "the content folder does not exist (or is a symbolic link)")
        return content
    entries = {e.name: e for e in list_dir(content_dir, shown_root, report)}
    for name in ("site.yaml", "publishers.yaml", "stories"):
        # A symbolic link in its place is already reported as such; it is not also "missing".
        if name not in entries and not os.path.lexists(os.path.join(content_dir, name)):
            report.error(Pos(display(shown_root, name)), f"missing {name}" + ("/ folder" if name == "stories" else ""))
    for name, e in entries.items():
        if name not in ("site.yaml", "publishers.yaml", "stories"):
            report.warning(Pos(e.shown), "ignored: content/ holds site.yaml, publishers.yaml and stories/ only")
            if e.is_dir:
                check_tree(e.path, e.shown, report)
    if "site.yaml" in entries:
        content.site = _load_site(entries["site.yaml"].path, entries["site.yaml"].shown, report)
    if "publishers.yaml" in entries:
        content.publishers = _load_publishers(entries["publishers.yaml"].path, entries["publishers.yaml"].shown, report)
    stories = entries.get("stories")
    if stories is not None:
        if not stories.is_dir:
            report.error(Pos(stories.shown), "stories must be a folder")
        else:
            content.stories = _load_stories(stories.path, stories.shown, report)
    return content


def _load_site(path: str, shown: str, report: Report) -> SiteConfig | None:
    doc = read_yaml(path, shown, report)
    if doc is None or doc.root is None:
        return None
    return Converter(doc, report).object(SiteConfig, doc.root, "site.yaml")


def _load_publishers(path: str, shown: str, report: Report) -> dict[str, Publisher]:
    doc = read_yaml(path, shown, report)
    if doc is None or doc.root is None:
        return {}
    conv = Converter(doc, report)
    root = conv.expect_map(doc.root, "publishers.yaml")
    publishers: dict[str, Publisher] = {}
    for key, node in root.items if isinstance(root, YMap) else []:
        if not is_name(key.value):
            report.error(key.pos, f"'{key.value}' is not a valid publisher id: {NAME_RULE}")
        publisher = conv.object(Publisher, node, f"publisher '{key.value}'", id=key.value)
        if publisher is not None:
            publishers[key.value] = publisher
    return publishers


def _load_stories(path: str, shown: str, report: Report) -> list[Story]:
    stories: list[Story] = []
    twins: dict[str, list[str]] = defaultdict(list)
    for e in list_dir(path, shown, report):
        if not e.is_dir:
            report.error(Pos(e.shown), "only story folders belong directly under stories/")
            continue
        twins[unicodedata.normalize("NFKC", e.name).casefold()].append(e.name)
        if not is_name(e.name):
            report.error(Pos(e.shown), f"'{e.name}' is not a valid story folder name: {NAME_RULE}")
            check_tree(e.path, e.shown, report)
            continue
        if e.name in RESERVED_SLUGS:
            report.error(Pos(e.shown), f"'{e.name}' is reserved for the site's own pages; choose another story name")
            continue
        story = _load_story(e.name, e.path, e.shown, report)
        if story is not None:
            stories.append(story)
    for names in twins.values():
        if len(names) > 1:
            for name in names[1:]:
                report.error(Pos(display(shown, name)), f"story folder '{name}' differs from '{names[0]}' only by case or Unicode normalisation")
    return stories


def _load_story(slug: str, path: str, shown: str, report: Report) -> Story | None:
    entries = {e.name: e for e in list_dir(path, shown, report)}
    for name, e in entries.items():
        if name not in ("facts.yaml", "explainer.md"):
            report.warning(Pos(e.shown), "ignored: a story folder holds facts.yaml and explainer.md only")
            if e.is_dir:
                check_tree(e.path, e.shown, report)
    facts_entry, md_entry = entries.get("facts.yaml"), entries.get("explainer.md")
    for name, entry in (("facts.yaml", facts_entry), ("explainer.md", md_entry)):
        if entry is None and not os.path.lexists(os.path.join(path, name)):
            report.error(Pos(display(shown, name)), f"missing {name}")
        elif entry is not None and entry.is_dir:
            report.error(Pos(entry.shown), f"{name} must be a file")
    # Each file is checked even when the other is missing, so one run shows every problem.
    facts = None
    if facts_entry is not None and not facts_entry.is_dir:
        doc = read_yaml(facts_entry.path, facts_entry.shown, report)
        if doc is not None and doc.root is not None:
            facts = Converter(doc, report).object(StoryFacts, doc.root, "facts.yaml")
    parsed = None
    if md_entry is not None and not md_entry.is_dir:
        text = read_text(md_entry.path, md_entry.shown, NARRATIVE_LIMIT, report)
        parsed = narrative_mod.parse(text, md_entry.shown, report) if text is not None else None
    if facts is None or parsed is None or facts_entry is None or md_entry is None:
        return None
    return Story(slug, facts_entry.shown, md_entry.shown, facts, parsed)
