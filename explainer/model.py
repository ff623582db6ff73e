"""The content format as typed, frozen data: one source of truth for the check, the pages and the docs.

Each field's metadata names its kind (how a YAML value is read), whether it is required, and what it
means. ``schema.py`` reads these to convert and check YAML; the templates receive these objects.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from .diagnostics import NOWHERE, Place

SLUG_PATTERN = r"^[a-z0-9]+(-[a-z0-9]+)*$"
PUBLISHER_KINDS = ("news", "wire", "agency", "official", "other")
RELATIONS = ("reporting", "statement", "background", "media")
STATUSES = ("confirmed", "reported", "disputed", "unverified")


def spec(kind: str, *, required: bool = False, doc: str = "", **options: Any) -> dict[str, Any]:
    """Field metadata: how the YAML value is read (``kind``), whether it must be there, and its meaning."""
    return {"kind": kind, "required": required, "doc": doc, **options}


@dataclass(frozen=True)
class Stamp:
    """A date or an instant (date-time with offset), as the author wrote it."""

    text: str
    date: dt.date
    instant: dt.datetime | None  # None for a date alone

    def key(self, other: Stamp) -> tuple[Any, Any]:
        """Comparable pair: calendar dates when either is a date alone, otherwise instants."""
        if self.instant is None or other.instant is None:
            return self.date, other.date
        return self.instant, other.instant

    def rfc3339(self) -> str:
        """The stamp as an RFC 3339 date-time (a date alone is taken as midnight UTC)."""
        if self.instant is None:
            return self.date.isoformat() + "T00:00:00Z"
        return self.instant.isoformat().replace("+00:00", "Z")

    def sort_value(self) -> dt.datetime:
        """An aware datetime for sorting (a date alone is midnight UTC)."""
        if self.instant is None:
            return dt.datetime.combine(self.date, dt.time(), dt.UTC)
        return self.instant

    def human(self) -> str:
        """A reader-friendly date, independent of the machine's locale: 27 November 2025."""
        d = self.date
        return f"{d.day} {_MONTHS[d.month - 1]} {d.year}"


_MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)


@dataclass(frozen=True)
class Located:
    """Where each field's value was written, for diagnostics found after conversion."""

    pos: Place = field(default=NOWHERE, compare=False)
    where: dict[str, Place] = field(default_factory=dict, compare=False, hash=False)

    def at(self, name: str) -> Place:
        """The position of a field's value, or of the object when the field was not written."""
        return self.where.get(name, self.pos)


@dataclass(frozen=True)
class Ref:
    """A name that points at something else (a source key, a fact id, a publisher id)."""

    name: str
    pos: Place = field(compare=False)


@dataclass(frozen=True)
class Person(Located):
    """Who publishes the site."""

    name: str = field(default="", metadata=spec("text", required=True, doc="the publisher's name"))
    url: str = field(default="", metadata=spec("url", required=True, doc="the publisher's home page"))


@dataclass(frozen=True)
class SiteConfig(Located):
    """content/site.yaml."""

    title: str = field(default="", metadata=spec("text", required=True, doc="the site's name"))
    description: str = field(
        default="", metadata=spec("text", required=True, doc="one sentence; the home page's meta description and the feed's subtitle")
    )
    base_url: str = field(default="", metadata=spec("base_url", required=True, doc="where the site is published"))
    language: str = field(default="en", metadata=spec("language", doc="BCP 47 tag; the lang of every page"))
    publisher: Person = field(default_factory=Person, metadata=spec("object", required=True, of=Person, doc="who publishes the site"))
    corrections_policy: str | None = field(default=None, metadata=spec("url", doc="linked from every story's corrections block"))


@dataclass(frozen=True)
class Publisher(Located):
    """An outlet or body that stories cite (content/publishers.yaml)."""

    id: str = ""
    name: str = field(default="", metadata=spec("text", required=True, doc="its name as readers know it"))
    url: str = field(default="", metadata=spec("url", required=True, doc="its home page"))
    kind: str = field(default="news", metadata=spec("enum", values=PUBLISHER_KINDS, doc="news, wire, agency, official or other"))


@dataclass(frozen=True)
class Source(Located):
    """Something a story relies on; citations name it by its key."""

    key: str = ""
    publisher: Ref = field(default=Ref("", NOWHERE), metadata=spec("ref", required=True, doc="a publisher id from publishers.yaml"))
    title: str | None = field(default=None, metadata=spec("text", doc="the title of the article or statement"))
    url: str | None = field(default=None, metadata=spec("url", doc="its address"))
    author: str | None = field(default=None, metadata=spec("text", doc="who wrote it"))
    published: Stamp | None = field(default=None, metadata=spec("date", doc="when it was published"))
    relation: str = field(default="reporting", metadata=spec("enum", values=RELATIONS, doc="reporting, statement, background or media"))
    via: Ref | None = field(default=None, metadata=spec("ref", doc="another source key: where this one was read"))
    missing_url_reason: str | None = field(default=None, metadata=spec("text", doc="why there is no url"))


@dataclass(frozen=True)
class Fact(Located):
    """One atomic claim tied to its sources."""

    id: str = field(default="", metadata=spec("slug", required=True, doc="unique in the story"))
    text: str = field(default="", metadata=spec("text", required=True, doc="one sentence"))
    sources: tuple[Ref, ...] = field(default=(), metadata=spec("refs", required=True, min=1, doc="source keys"))
    status: str = field(default="reported", metadata=spec("enum", values=STATUSES, doc="confirmed, reported, disputed or unverified"))
    date: Stamp | None = field(default=None, metadata=spec("date", doc="puts the fact on the timeline"))
    note: str | None = field(default=None, metadata=spec("text", doc="how sources disagree, or other context"))


@dataclass(frozen=True)
class Quote(Located):
    """An attributed statement."""

    text: str = field(default="", metadata=spec("text", required=True, doc="the words quoted"))
    speaker: str = field(default="", metadata=spec("text", required=True, doc="who said them"))
    source: Ref = field(default=Ref("", NOWHERE), metadata=spec("ref", required=True, doc="the source key where the quote was reported"))
    context: str | None = field(default=None, metadata=spec("text", doc="when and where it was said"))


@dataclass(frozen=True)
class Question(Located):
    """An open question: what we don't know yet."""

    text: str = field(default="", metadata=spec("text", required=True, doc="the question"))
    sources: tuple[Ref, ...] = field(default=(), metadata=spec("refs", doc="source keys"))


@dataclass(frozen=True)
class Correction(Located):
    """An entry of the corrections log."""

    date: Stamp | None = field(default=None, metadata=spec("date", required=True, doc="when the correction was made"))
    text: str = field(default="", metadata=spec("text", required=True, doc="what was corrected"))


@dataclass(frozen=True)
class StoryFacts(Located):
    """stories/<slug>/facts.yaml."""

    headline: str = field(default="", metadata=spec("text", required=True, max=110, doc="the page title"))
    summary: str = field(default="", metadata=spec("text", required=True, max=300, doc="the dek, meta description and feed summary"))
    published: Stamp | None = field(default=None, metadata=spec("date", required=True, doc="first publication"))
    updated: Stamp | None = field(default=None, metadata=spec("date", doc="last substantive change"))
    draft: bool = field(default=False, metadata=spec("bool", doc="left out unless --drafts"))
    topics: tuple[Ref, ...] = field(default=(), metadata=spec("slugs", doc="each gets a topic page"))
    byline: str | None = field(default=None, metadata=spec("text", doc="who wrote the explainer"))
    sources: dict[str, Source] = field(
        default_factory=dict, metadata=spec("mapping", required=True, of=Source, min=1, doc="what the story relies on")
    )
    facts: tuple[Fact, ...] = field(default=(), metadata=spec("list", required=True, of=Fact, min=1, doc="atomic claims"))
    takeaways: tuple[Ref, ...] = field(default=(), metadata=spec("refs", required=True, min=1, max=5, doc="fact ids for Key takeaways"))
    quotes: tuple[Quote, ...] = field(default=(), metadata=spec("list", of=Quote, doc="attributed statements"))
    unknowns: tuple[Question, ...] = field(default=(), metadata=spec("list", of=Question, doc="what we don't know yet"))
    corrections: tuple[Correction, ...] = field(default=(), metadata=spec("list", of=Correction, doc="the corrections log"))
