"""Read content/ into the typed model: site, publishers and stories, with every problem reported."""

from __future__ import annotations

import os
import unicodedata
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from . import narrative as narrative_mod
from .diagnostics import Diagnostic, Pos, Report
from .files import NARRATIVE_LIMIT, YAML_LIMIT, Entry, check_tree, decode, digest, display, list_dir, read_bytes, signature_of, stat_signature
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
    # What converted the facts from which bytes (see ParseMemo), and the conversion's own
    # diagnostics: kept with the story's page, so that a rebuild after an edit of the narrative
    # alone can take the facts from there without parsing any YAML.
    facts_key: bytes = b""
    facts_diagnostics: list[Diagnostic] = field(default_factory=list)


@dataclass
class Content:
    """Everything under content/, converted."""

    site: SiteConfig | None = None
    publishers: dict[str, Publisher] = field(default_factory=dict)
    stories: list[Story] = field(default_factory=list)
    digest: bytes = b""  # of site.yaml and publishers.yaml: what every page depends on


Recall = Callable[[str, bytes], tuple[object, list[Diagnostic]] | None]  # (path shown, key) -> (converted, diagnostics), if kept


def _nothing_kept(shown: str, key: bytes) -> None:
    return None


class ParseMemo:
    """YAML files as earlier builds converted them, and those converted now, by path as shown.

    Converting YAML needs PyYAML, whose import alone costs a one-story rebuild a tenth of its
    time: a rebuild in which no YAML file changed (an edit of a narrative) need not import it.
    A kept conversion is used only under the digest of the very bytes it was made from.
    """

    def __init__(self, recall: Recall = _nothing_kept) -> None:
        self.recall = recall  # where earlier conversions are kept (cache.PageStore)
        self.made: dict[str, tuple[bytes, object, list[Diagnostic]]] = {}  # path shown -> (key, converted, diagnostics), made now
        self.keys: dict[str, tuple[bytes, list[Diagnostic]]] = {}  # path shown -> (key, diagnostics) of every conversion, made or kept


def _read_parsed(entry: Entry | None, limit: int, make: Callable[[bytes, str, Report], T], report: Report,
                 memo: ParseMemo | None = None) -> tuple[T | None, bytes]:
    """Read a file and parse it: (result, digest of its bytes). With ``memo``, a kept conversion of the same bytes is used."""
    if entry is None or entry.is_dir:
        return None, b""
    data = read_bytes(entry.path, entry.shown, limit, report)
    if data is None:
        return None, b""
    data_digest = digest(data)
    if memo is None:
        return make(data, entry.shown, report), data_digest
    key = digest(make.__name__.encode(), data_digest)  # what converted it, and from which bytes
    found = memo.recall(entry.shown, key)
    if found is not None and _converted_by(make, found[0]):
        report.items.extend(found[1])
        memo.keys[entry.shown] = (key, found[1])
        return found[0], data_digest  # type: ignore[return-value]  # checked by _converted_by
    own = Report()
    value = make(data, entry.shown, own)
    report.extend(own)
    memo.keys[entry.shown] = (key, own.items)
    if value is not None:
        memo.made[entry.shown] = (key, value, own.items)
    return value, data_digest


def read_yaml(path: str, shown: str, report: Report) -> YDoc | None:
    """Read and parse one YAML file strictly; None when it is unreadable."""
    data = read_bytes(path, shown, YAML_LIMIT, report)
    return None if data is None else _yaml_from(data, shown, report)


def _yaml_from(data: bytes, shown: str, report: Report) -> YDoc | None:
    text = decode(data, shown, report)
    return None if text is None else parse_yaml(shown, text, report)


@dataclass
class SiteInputs:
    """What every page depends on (site.yaml and publishers.yaml), and where the stories are."""

    site: SiteConfig | None
    publishers: dict[str, Publisher]
    digest: bytes  # of both files' bytes
    stories: Entry | None  # the stories/ folder, when it is one


def load_site(content_dir: str, report: Report, memo: ParseMemo | None = None) -> SiteInputs:
    """Read site.yaml and publishers.yaml and find stories/; problems go to the report. ``memo``: see ParseMemo."""
    shown_root = display(content_dir) or "."
    if not os.path.isdir(content_dir) or os.path.islink(content_dir):
        report.error(Pos(shown_root), "the content folder does not exist (or is a symbolic link)")
        return SiteInputs(None, {}, b"", None)
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
    site, site_digest = _read_parsed(entries.get("site.yaml"), YAML_LIMIT, _load_site, report, memo)
    publishers, pubs_digest = _read_parsed(entries.get("publishers.yaml"), YAML_LIMIT, _load_publishers, report, memo)
    stories = entries.get("stories")
    if stories is not None and not stories.is_dir:
        report.error(Pos(stories.shown), "stories must be a folder")
        stories = None
    return SiteInputs(site, publishers or {}, digest(site_digest, pubs_digest), stories)


def load_content(content_dir: str, report: Report, progress: ProgressFn = quiet) -> Content:
    """Read the whole content folder at once; problems go to the report, nothing is skipped silently."""
    inputs = load_site(content_dir, report)
    content = Content(inputs.site, inputs.publishers, [], inputs.digest)
    if inputs.stories is not None:
        folders = story_folders(inputs.stories.path, inputs.stories.shown, report)
        for done, e in enumerate(folders, 1):
            progress("reading stories", done, len(folders))
            story = load_story(e.name, e.path, e.shown, report)
            if story is not None:
                content.stories.append(story)
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


def story_folders(path: str, shown: str, report: Report) -> list[Entry]:
    """The story folders under stories/ whose names are valid; everything else is reported."""
    folders: list[Entry] = []
    twins: dict[str, list[str]] = defaultdict(list)
    for e in list_dir(path, shown, report):
        if not e.is_dir:
            report.error(Pos(e.shown), "only story folders belong directly under stories/")
            continue
        twins[unicodedata.normalize("NFKC", e.name).casefold()].append(e.name)
        if not is_name(e.name):
            report.error(Pos(e.shown), f"'{e.name}' is not a valid story folder name: {NAME_RULE}")
            check_tree(e.path, e.shown, report)
        elif e.name in RESERVED_SLUGS:
            report.error(Pos(e.shown), f"'{e.name}' is reserved for the site's own pages; choose another story name")
            check_tree(e.path, e.shown, report)
        else:
            folders.append(e)
    for names in twins.values():
        if len(names) > 1:
            for name in names[1:]:
                report.error(Pos(display(shown, name)), f"story folder '{name}' differs from '{names[0]}' only by case or Unicode normalisation")
    return folders


def story_signature(path: str, seen: Mapping[str, os.stat_result] | None = None) -> tuple[object, ...]:
    """What changes whenever a story folder's files may have: the stat signatures of the folder and both files.

    A folder inside a story folder is ignored but checked for symbolic links; a link added deep
    inside it changes only its own folder, so then every folder below is part of the signature.
    ``seen`` holds entries already stat-ed (without following links) by path, taken before the
    story was read, as the signature must be.
    """
    seen = seen or {}
    st = seen.get(path)
    if st is None:
        try:
            st = os.stat(path, follow_symlinks=False)
        except OSError:
            return (None,)
    facts, narrative = os.path.join(path, "facts.yaml"), os.path.join(path, "explainer.md")
    files = (
        signature_of(found) if (found := seen.get(facts)) is not None else stat_signature(facts),
        signature_of(found) if (found := seen.get(narrative)) is not None else stat_signature(narrative),
    )
    signature: tuple[object, ...] = (signature_of(st), *files)
    if st.st_nlink != 2:  # a folder without subfolders has two links (on file systems that count them)
        for folder, dirs, _files in os.walk(path):
            dirs.sort()
            signature += tuple(stat_signature(os.path.join(folder, d)) for d in dirs)
    return signature


def load_story(slug: str, path: str, shown: str, report: Report, memo: ParseMemo | None = None) -> Story | None:
    """Read and parse one story folder; None when it cannot be used (the reasons are in the report).

    ``memo`` may hold the facts as converted before (see ParseMemo).
    """
    memo = memo or ParseMemo()
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
    facts, facts_digest = _read_parsed(facts_entry, YAML_LIMIT, _facts_from, report, memo)
    narrative, md_digest = _read_parsed(md_entry, NARRATIVE_LIMIT, _narrative_from, report)
    if facts is None or narrative is None or facts_entry is None or md_entry is None:
        return None
    facts_key, facts_diagnostics = memo.keys[facts_entry.shown]
    return Story(slug, facts_entry.shown, md_entry.shown, facts, narrative, digest(facts_digest, md_digest), facts_key, list(facts_diagnostics))


def _facts_from(data: bytes, shown: str, report: Report) -> StoryFacts | None:
    doc = _yaml_from(data, shown, report)
    if doc is None or doc.root is None:
        return None
    return Converter(doc, report).object(StoryFacts, doc.root, "facts.yaml")


def _converted_by(make: Callable[..., object], value: object) -> bool:
    """Whether a kept value is of the kind ``make`` converts to: a damaged or planted cache row is never used."""
    if make is _load_publishers:
        return isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, Publisher) for k, v in value.items())
    kinds: dict[Callable[..., object], type] = {_load_site: SiteConfig, _facts_from: StoryFacts}
    return make in kinds and isinstance(value, kinds[make])


def _narrative_from(data: bytes, shown: str, report: Report) -> Narrative | None:
    text = decode(data, shown, report)
    return None if text is None else narrative_mod.parse(text, shown, report)
