"""What each explainer page shows, computed in page order so citation numbers follow the page.

Markers are numbered by first appearance across the whole page (takeaways, narrative, quotes, open
questions, facts); every citing place gets an anchor, and each source entry links back to all of them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from markupsafe import Markup, escape

from .citations import split_names
from .files import key_of
from .loader import Story
from .model import Correction, Fact, Publisher, Question, Quote, Ref, Source, Stamp
from .narrative import Section, render_section

if TYPE_CHECKING:
    from markdown_it.token import Token

STATUS_LABELS = {"confirmed": "Confirmed", "reported": "Reported", "disputed": "Disputed", "unverified": "Unverified"}


@dataclass
class SourceEntry:
    """One numbered entry of a page's source list."""

    number: int
    key: str
    source: Source
    label: str  # "Meduza, via The Kyiv Independent"
    publisher: Publisher
    backrefs: list[str] = field(default_factory=list)  # the id of each place citing it, in page order
    # Links back to those places, made in Python like the markers: in a Jinja loop they were a
    # third of the time to render a page.
    backlinks: Markup = field(default_factory=Markup)


@dataclass
class Cited:
    """Something shown with its citation markers."""

    item: Fact | Quote | Question
    markers: Markup


@dataclass
class Part:
    """A rendered section of the narrative."""

    section: Section
    html: Markup


@dataclass
class StoryPage:
    """Everything the explainer template shows, in page order."""

    story: Story
    attribution: list[str]
    takeaways: list[Cited]
    parts: list[Part]
    quotes: list[Cited]
    unknowns: list[Cited]
    timeline: list[tuple[Stamp, Fact]]
    facts: list[Cited]
    sources: list[SourceEntry]
    corrections: list[Correction]
    modified: Stamp


@dataclass(frozen=True)
class ListedFacts:
    """The facts of a story that lists show."""

    headline: str
    summary: str
    published: Stamp
    byline: str | None
    topics: tuple[Ref, ...]  # as in facts.yaml, so list templates name them as story templates do
    draft: bool


@dataclass(frozen=True)
class Listed:
    """What lists (home, topics, publishers, feed) know of a story, and nothing more.

    List templates receive this in place of the story, so a list entry rendered once can be reused
    for exactly as long as this value is unchanged; it is small enough to keep between builds.
    """

    slug: str
    facts: ListedFacts
    modified: Stamp
    cites: tuple[str, ...]  # publisher ids of its sources, first-written first
    key: bytes = field(default=b"", compare=False, repr=False)  # a digest of all the above, computed once
    # Derived from the above once, because lists sort and group every story on every build (the
    # preview's included): newest first by publication, and the topics without repeats.
    order: tuple[float, str] = field(default=(0.0, ""), compare=False, repr=False)
    modified_at: dt.datetime = field(default=dt.datetime.min, compare=False, repr=False)
    topic_names: tuple[str, ...] = field(default=(), compare=False, repr=False)


def listed(story: Story) -> Listed:
    """A story as lists show it."""
    f = story.facts
    assert f.published is not None
    cites = tuple(dict.fromkeys(s.publisher.name for s in f.sources.values()))
    facts = ListedFacts(f.headline, f.summary, f.published, f.byline, f.topics, f.draft)
    stamp = modified(story)
    order = (-f.published.sort_value().timestamp(), story.slug)
    topics = tuple(dict.fromkeys(t.name for t in f.topics))
    return Listed(story.slug, facts, stamp, cites, key_of(story.slug, facts, stamp, cites), order, stamp.sort_value(), topics)


def join_names(names: Sequence[str]) -> str:
    """'A', 'A and B', 'A, B and C'."""
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def latest(stamps: Sequence[Stamp]) -> Stamp:
    """The latest of some stamps (the first written wins a tie, for determinism)."""
    best = stamps[0]
    for s in stamps[1:]:
        if s.sort_value() > best.sort_value():
            best = s
    return best


def modified(story: Story) -> Stamp:
    """When the story last changed: published, updated or its newest correction."""
    f = story.facts
    assert f.published is not None
    stamps = [f.published] + ([f.updated] if f.updated else []) + [c.date for c in f.corrections if c.date]
    return latest(stamps)


class Citer:
    """Numbers a page's sources by first citation and renders markers that link both ways."""

    def __init__(self, story: Story, publishers: dict[str, Publisher]) -> None:
        self.sources = story.facts.sources
        self.publishers = publishers
        self.facts = {f.id: f for f in story.facts.facts}
        self.entries: dict[str, SourceEntry] = {}
        self.links: dict[str, str] = {}  # each source's marker link, made at its first citation
        self.places = 0

    def label(self, key: str) -> str:
        """The publisher's name, with the ones it was read through: 'Meduza, via The Kyiv Independent'."""
        names: list[str] = []
        seen: set[str] = set()
        current: str | None = key
        while current is not None and current not in seen:  # the check refuses cycles; never loop anyway
            seen.add(current)
            source = self.sources[current]
            names.append(self.publishers[source.publisher.name].name)
            current = source.via.name if source.via is not None else None
        return ", via ".join(names)

    def _entry(self, key: str) -> SourceEntry:
        entry = self.entries.get(key)
        if entry is None:
            source = self.sources[key]
            entry = SourceEntry(len(self.entries) + 1, key, source, self.label(key), self.publishers[source.publisher.name])
            self.entries[key] = entry
        return entry

    def markers(self, keys: Sequence[str], fact: str | None = None) -> Markup:
        """A citing place: numbered markers for these sources (and a link to the fact, if any)."""
        unique = list(dict.fromkeys(keys))
        if not unique and fact is None:
            return Markup("")
        self.places += 1
        place = f"cite-{self.places}"
        links = []
        # Plain string formatting with explicit escaping: a page has hundreds of markers, and
        # Markup.format costs several times as much for the same bytes.
        for key in unique:
            entry = self._entry(key)
            entry.backrefs.append(place)
            link = self.links.get(key)
            if link is None:  # a source's link is the same wherever the page cites it: made once
                source = entry.source
                tip = entry.label + (f": {source.title}" if source.title else "") + (f" ({source.published.human()})" if source.published else "")
                # Screen readers read the label; hover or keyboard focus shows the same words through
                # CSS (content: attr(aria-label)), without JavaScript and without a second copy.
                link = f'<a class="marker" href="#source-{escape(key)}" aria-label="Source {entry.number}: {escape(tip)}">{entry.number}</a>'
                self.links[key] = link
            links.append(link)
        inner = ", ".join(links)
        if fact is not None:
            inner += f'{"; " if links else ""}<a class="fact-link" href="#fact-{escape(fact)}" title="{escape(self.facts[fact].text)}">fact</a>'
        return Markup(f'<sup class="cite" id="{place}">[{inner}]</sup>')

    def token(self, token: Token) -> str:
        """Render a citation token of the narrative."""
        names = [name for name, _, problem in split_names(token.meta["kind"], token.meta["body"]) if not problem]
        if token.meta["kind"] == "fact":
            fact = self.facts[names[0]]
            return str(self.markers([r.name for r in fact.sources], fact=fact.id))
        return str(self.markers(names))

    def fact(self, fact: Fact) -> Markup:
        """Markers for a fact's sources."""
        return self.markers([r.name for r in fact.sources])

    def all_entries(self) -> list[SourceEntry]:
        """The source list: cited sources by first citation, then any never cited, as written."""
        for key in self.sources:
            self._entry(key)
        entries = sorted(self.entries.values(), key=lambda e: e.number)
        for e in entries:
            # Places are "cite-N", made here: nothing to escape.
            links = (f'<a href="#{place}" aria-label="citation {n} of source {e.number}">↩{n}</a>' for n, place in enumerate(e.backrefs, 1))
            e.backlinks = Markup(" ".join(links))
        return entries


def story_page(story: Story, publishers: dict[str, Publisher]) -> StoryPage:
    """Compute an explainer page, citing in the order the page shows things."""
    f = story.facts
    citer = Citer(story, publishers)
    facts_by_id = {fact.id: fact for fact in f.facts}
    takeaways = [Cited(facts_by_id[r.name], citer.fact(facts_by_id[r.name])) for r in f.takeaways]
    env = {"cite": citer.token}
    parts = [Part(s, Markup(render_section(s, env))) for s in story.narrative.sections]
    quotes = [Cited(q, citer.markers([q.source.name])) for q in f.quotes]
    unknowns = [Cited(q, citer.markers([r.name for r in q.sources])) for q in f.unknowns]
    dated = [(fact.date, fact) for fact in f.facts if fact.date is not None]
    timeline = sorted(dated, key=lambda pair: pair[0].sort_value())  # stable: ties keep the author's order
    facts = [Cited(fact, citer.fact(fact)) for fact in f.facts]
    attribution: list[str] = []
    for source in f.sources.values():
        name = publishers[source.publisher.name].name
        if source.relation == "reporting" and name not in attribution:
            attribution.append(name)
    dated_corrections = [(c.date, c) for c in f.corrections if c.date is not None]
    corrections = [c for _, c in sorted(dated_corrections, key=lambda pair: pair[0].sort_value(), reverse=True)]
    return StoryPage(
        story, attribution, takeaways, parts, quotes, unknowns, timeline, facts, citer.all_entries(), corrections, modified(story)
    )


def resolve_source(key: str, source: Source, publishers: dict[str, Publisher]) -> dict[str, object]:
    """A source with its publisher resolved, for facts.json."""
    publisher = publishers[source.publisher.name]
    return {
        "key": key,
        "publisher": {"id": publisher.id, "name": publisher.name, "url": publisher.url, "kind": publisher.kind},
        "title": source.title,
        "url": source.url,
        "missing_url_reason": source.missing_url_reason,
        "author": source.author,
        "published": source.published.text if source.published else None,
        "relation": source.relation,
        "via": source.via.name if source.via else None,
    }
