"""Cross-reference checks: every citation, takeaway, quote, question and ``via`` names something real."""

from __future__ import annotations

from .diagnostics import Place, Report
from .loader import Content, Story
from .model import Publisher, Ref


def _known(names: list[str] | set[str]) -> str:
    return "known: " + ", ".join(sorted(names)) if names else "none are defined"


def check_content(content: Content, report: Report) -> None:
    """Check every story against its own sources and facts and the site's publishers."""
    for story in content.stories:
        check_story(story, content.publishers, report)


def check_story(story: Story, publishers: dict[str, Publisher], report: Report) -> None:
    """Report broken references and the warnings about sources of one story."""
    f = story.facts
    sources = set(f.sources)
    facts_by_id: dict[str, Place] = {}
    for fact in f.facts:
        if not fact.id:
            continue
        if fact.id in facts_by_id:
            report.error(fact.at("id"), f"duplicate fact id '{fact.id}' (first on line {facts_by_id[fact.id][1]})")
        else:
            facts_by_id[fact.id] = fact.at("id")
    used: set[str] = set()

    def source_ref(ref: Ref, who: str) -> None:
        used.add(ref.name)
        if ref.name not in sources:
            report.error(ref.pos, f"{who} cites unknown source '{ref.name}' ({_known(sources)})")

    def fact_ref(ref: Ref, who: str) -> None:
        if ref.name not in facts_by_id:
            report.error(ref.pos, f"{who} names unknown fact '{ref.name}' ({_known(set(facts_by_id))})")

    for key, source in f.sources.items():
        if source.publisher.name and source.publisher.name not in publishers:
            report.error(source.publisher.pos, f"source '{key}' names unknown publisher '{source.publisher.name}' ({_known(set(publishers))})")
        if source.via is not None:
            used.add(source.via.name)
            if source.via.name not in sources:
                report.error(source.via.pos, f"source '{key}' is read via unknown source '{source.via.name}' ({_known(sources)})")
        # A url that was written but is invalid has its own error; do not also say it is missing.
        if "url" not in source.where and source.missing_url_reason is None:
            report.warning(source.pos, f"source '{key}' has no url; add one, or say why in missing_url_reason")
    _check_via_cycles(story, report)
    for fact in f.facts:
        for ref in fact.sources:
            source_ref(ref, f"fact '{fact.id}'")
        if fact.status == "disputed" and not fact.note:
            report.warning(fact.at("status"), f"disputed fact '{fact.id}' should say in 'note' how its sources disagree")
    for ref in f.takeaways:
        fact_ref(ref, "takeaway")
    for quote in f.quotes:
        if quote.source.name:
            source_ref(quote.source, "quote")
    for question in f.unknowns:
        for ref in question.sources:
            source_ref(ref, "open question")
    fact_sources = {fact.id: fact.sources for fact in f.facts}
    for cited in story.narrative.cited:
        ref = Ref(cited.name, cited.pos)
        if cited.kind == "source":
            source_ref(ref, "the narrative")
        else:
            fact_ref(ref, "the narrative")
            used.update(r.name for r in fact_sources.get(cited.name, ()))
    for key, source in f.sources.items():
        if key not in used:
            report.warning(source.pos, f"source '{key}' is never cited")
    if f.published is not None and f.updated is not None:
        a, b = f.updated.key(f.published)
        if a < b:
            report.error(f.at("updated"), f"'updated' ({f.updated.text}) is before 'published' ({f.published.text})")


def _check_via_cycles(story: Story, report: Report) -> None:
    """A source read via another must not, through the chain, be read via itself (linear in the sources)."""
    sources = story.facts.sources
    done: set[str] = set()
    for start in sources:
        path: list[str] = []
        on_path: set[str] = set()
        key: str | None = start
        while key is not None and key in sources and key not in done and key not in on_path:
            path.append(key)
            on_path.add(key)
            via = sources[key].via
            key = via.name if via is not None else None
        if key is not None and key in on_path:
            cycle = path[path.index(key):]
            via = sources[cycle[0]].via
            assert via is not None
            report.error(via.pos, "'via' goes round in a circle: " + " -> ".join([*cycle, cycle[0]]))
        done.update(path)
