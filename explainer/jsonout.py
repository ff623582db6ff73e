"""JSON outputs: the JSON-LD of each page and each story's facts.json."""

from __future__ import annotations

import json
from typing import Any

from markupsafe import Markup

from .model import Person, Publisher, SiteConfig
from .pages import StoryPage, resolve_source

FACTS_SCHEMA_VERSION = 1


def script_json(data: Any) -> Markup:
    """JSON safe inside a <script> element: no '</script>', no HTML comment openers, no raw line separators."""
    text = json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    for char, code in (("&", "\\u0026"), ("<", "\\u003c"), (">", "\\u003e"), ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(char, code)
    return Markup(text)


def _organization(person: Person | Publisher) -> dict[str, str]:
    return {"@type": "Organization", "name": person.name, "url": person.url}


def _work(page: StoryPage, key: str) -> dict[str, Any]:
    entry = next(e for e in page.sources if e.key == key)
    source = entry.source
    work: dict[str, Any] = {"@type": "CreativeWork", "name": source.title or entry.label, "publisher": _organization(entry.publisher)}
    if source.url:
        work["url"] = source.url
    if source.author:
        work["author"] = {"@type": "Person", "name": source.author}
    if source.published:
        work["datePublished"] = source.published.text
    return work


def article_ld(page: StoryPage, site: SiteConfig, canonical: str) -> Markup:
    """The NewsArticle JSON-LD of an explainer, with every source cited and the reporting ones as its basis."""
    f = page.story.facts
    assert f.published is not None
    author: dict[str, Any] = {"@type": "Person", "name": f.byline} if f.byline else _organization(site.publisher)
    data = {
        "@context": "https://schema.org",
        "@type": "NewsArticle",
        "headline": f.headline,
        "description": f.summary,
        "url": canonical,
        "mainEntityOfPage": canonical,
        "inLanguage": site.language,
        "datePublished": f.published.text,
        "dateModified": page.modified.text,
        "author": author,
        "publisher": _organization(site.publisher),
        "citation": [_work(page, e.key) for e in page.sources],
        "isBasedOn": [_work(page, e.key) for e in page.sources if e.source.relation == "reporting"],
        "keywords": [t.name for t in f.topics],
    }
    return script_json(data)


def page_ld(kind: str, name: str, description: str, canonical: str, site: SiteConfig) -> Markup:
    """JSON-LD for the site's other pages (a WebSite or a CollectionPage)."""
    data = {
        "@context": "https://schema.org",
        "@type": kind,
        "name": name,
        "description": description,
        "url": canonical,
        "inLanguage": site.language,
        "publisher": _organization(site.publisher),
    }
    return script_json(data)


def facts_json(page: StoryPage, publishers: dict[str, Publisher], canonical: str) -> bytes:
    """A story's facts, quotes, open questions and corrections with their sources resolved."""
    f = page.story.facts
    sources = {key: resolve_source(key, s, publishers) for key, s in f.sources.items()}

    def resolved(keys: list[str]) -> list[dict[str, object]]:
        return [sources[k] for k in keys]

    data = {
        "schema_version": FACTS_SCHEMA_VERSION,
        "slug": page.story.slug,
        "url": canonical,
        "headline": f.headline,
        "summary": f.summary,
        "published": f.published.text if f.published else None,
        "updated": f.updated.text if f.updated else None,
        "modified": page.modified.text,
        "topics": [t.name for t in f.topics],
        "takeaways": [r.name for r in f.takeaways],
        "facts": [
            {
                "id": fact.id,
                "text": fact.text,
                "status": fact.status,
                "date": fact.date.text if fact.date else None,
                "note": fact.note,
                "sources": resolved([r.name for r in fact.sources]),
            }
            for fact in f.facts
        ],
        "quotes": [
            {"text": q.text, "speaker": q.speaker, "context": q.context, "source": sources[q.source.name]} for q in f.quotes
        ],
        "unknowns": [{"text": q.text, "sources": resolved([r.name for r in q.sources])} for q in f.unknowns],
        "corrections": [{"date": c.date.text if c.date else None, "text": c.text} for c in page.corrections],
        "sources": list(sources.values()),
    }
    # Compact: Python's JSON encoder is several times slower with indentation, and facts.json is
    # read by programs (a browser's JSON viewer lays it out for a person).
    return (json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")
