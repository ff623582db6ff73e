"""Read content/ into the typed model: site, publishers and stories, with every problem reported."""

from __future__ import annotations

import os
import unicodedata
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from . import narrative as narrative_mod
from .cache import BuildCache, digest, remember, stat_signature
from .diagnostics import Pos, Report
from .files import NARRATIVE_LIMIT, YAML_LIMIT, Entry, check_tree, decode, display, list_dir, read_bytes
from .model import Publisher, SiteConfig, StoryFacts
from .narrative import Narrative
from .progress import ProgressFn, quiet
from .schema import NAME_RULE, Converter, is_name
from .yamlread import YDoc, YMap
from .yamlread import parse as parse_yaml

T = TypeVar("T")

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
    digest: bytes  # of both files' bytes: what the story's own pages depend on


@dataclass
class Content:
    """Everything under content/, converted."""

    site: SiteConfig | None = None
    publishers: dict[str, Publisher] = field(default_factory=dict)
    stories: list[Story] = field(default_factory=list)
    digest: bytes = b""  # of site.yaml and publishers.yaml: what every page depends on


def read(path: str, shown: str, limit: int, report: Report, cache: BuildCache | None) -> tuple[bytes, bytes] | None:
    """A file's bytes and their digest; with a cache, reused while the file's stat signature is unchanged."""
    signature = stat_signature(path) if cache is not None else None
    if cache is not None and signature is not None:
        hit = cache.files.get(path)
        if hit is not None and hit[0] == signature:
            return hit[1]  # type: ignore[no-any-return]
    data = read_bytes(path, shown, limit, report)
    if data is None:
        return None
    result = (data, digest(data))
    if cache is not None and signature is not None:
        cache.files.put(path, (signature, result))
    return result


def _read_parsed(
    entry: Entry | None, limit: int, make: Callable[[bytes, str, Report], T], report: Report, cache: BuildCache | None
) -> tuple[T | None, bytes]:
    """Read a file and parse it, or reuse the parse of the same bytes: (result, digest of its bytes)."""
    if entry is None or entry.is_dir:
        return None, b""
    got = read(entry.path, entry.shown, limit, report, cache)
    if got is None:
        return None, b""
    data, data_digest = got
    key = (make.__name__, entry.shown, data_digest)
    return remember(cache, key, report, lambda r: make(data, entry.shown, r)), data_digest


def read_yaml(path: str, shown: str, report: Report) -> YDoc | None:
    """Read and parse one YAML file strictly; None when it is unreadable."""
    data = read_bytes(path, shown, YAML_LIMIT, report)
    return None if data is None else _yaml_from(data, shown, report)


def _yaml_from(data: bytes, shown: str, report: Report) -> YDoc | None:
    text = decode(data, shown, report)
    return None if text is None else parse_yaml(shown, text, report)


def load_content(content_dir: str, report: Report, cache: BuildCache | None = None, progress: ProgressFn = quiet) -> Content:
    """Read the whole content folder; problems go to the report, nothing is skipped silently.

    With a cache, files whose bytes were parsed before are not parsed again.
    """
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
        if name in ("site.yaml", "publishers.yaml") and e.is_dir:
            report.error(Pos(e.shown), f"{name} must be a file")
        elif name not in ("site.yaml", "publishers.yaml", "stories"):
            report.warning(Pos(e.shown), "ignored: content/ holds site.yaml, publishers.yaml and stories/ only")
            if e.is_dir:
                check_tree(e.path, e.shown, report)
    content.site, site_digest = _read_parsed(entries.get("site.yaml"), YAML_LIMIT, _load_site, report, cache)
    publishers, pubs_digest = _read_parsed(entries.get("publishers.yaml"), YAML_LIMIT, _load_publishers, report, cache)
    content.publishers = publishers or {}
    content.digest = digest(site_digest, pubs_digest)
    stories = entries.get("stories")
    if stories is not None:
        if not stories.is_dir:
            report.error(Pos(stories.shown), "stories must be a folder")
        else:
            content.stories = _load_stories(stories.path, stories.shown, report, cache, progress)
    return content


def _load_site(data: bytes, shown: str, report: Report) -> SiteConfig | None:
    doc = _yaml_from(data, shown, report)
    if doc is None or doc.root is None:
        return None
    return Converter(doc, report).object(SiteConfig, doc.root, "site.yaml")


def _load_publishers(data: bytes, shown: str, report: Report) -> dict[str, Publisher]:
    doc = _yaml_from(data, shown, report)
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


def _load_stories(path: str, shown: str, report: Report, cache: BuildCache | None, progress: ProgressFn) -> list[Story]:
    stories: list[Story] = []
    twins: dict[str, list[str]] = defaultdict(list)
    entries = list_dir(path, shown, report)
    for done, e in enumerate(entries, 1):
        progress("reading stories", done, len(entries))
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
            check_tree(e.path, e.shown, report)
            continue
        story = _load_story(e.name, e.path, e.shown, report, cache)
        if story is not None:
            stories.append(story)
    for names in twins.values():
        if len(names) > 1:
            for name in names[1:]:
                report.error(Pos(display(shown, name)), f"story folder '{name}' differs from '{names[0]}' only by case or Unicode normalisation")
    return stories


def _listing(path: str, shown: str, report: Report, cache: BuildCache | None) -> list[Entry]:
    """A story folder's entries; with a cache, reused while the folder's own stat signature is unchanged.

    A folder's modification time changes whenever an entry is added, removed or renamed in it.
    """
    signature = stat_signature(path) if cache is not None else None
    if signature is None:
        return list_dir(path, shown, report)
    return remember(cache, ("listing", path, signature), report, lambda r: list_dir(path, shown, r))


def _load_story(slug: str, path: str, shown: str, report: Report, cache: BuildCache | None) -> Story | None:
    entries = {e.name: e for e in _listing(path, shown, report, cache)}
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
    facts, facts_digest = _read_parsed(facts_entry, YAML_LIMIT, _facts_from, report, cache)
    narrative, md_digest = _read_parsed(md_entry, NARRATIVE_LIMIT, _narrative_from, report, cache)
    if facts is None or narrative is None or facts_entry is None or md_entry is None:
        return None
    return Story(slug, facts_entry.shown, md_entry.shown, facts, narrative, digest(facts_digest, md_digest))


def _facts_from(data: bytes, shown: str, report: Report) -> StoryFacts | None:
    doc = _yaml_from(data, shown, report)
    if doc is None or doc.root is None:
        return None
    return Converter(doc, report).object(StoryFacts, doc.root, "facts.yaml")


def _narrative_from(data: bytes, shown: str, report: Report) -> Narrative | None:
    text = decode(data, shown, report)
    return None if text is None else narrative_mod.parse(text, shown, report)
