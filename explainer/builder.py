"""The pipeline: content and templates in, output files and diagnostics out.

The site settings are read first; then each story is read, checked and rendered on its own (in
worker processes when there are many), which is where nearly all the time goes; then the lists,
feed and sitemap are rendered from what each story contributes to lists. With a ``BuildState``
from an earlier build, unchanged stories are not read again and output files whose key is
unchanged are kept as they are in the output folder. Outputs are returned, or handed as they are
made to a sink that writes them (see ``build``).
"""

from __future__ import annotations

import functools
import os
import stat
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from markupsafe import Markup

from .cache import BuildState, StoryRecord, storable_page
from .checks import check_story
from .diagnostics import Diagnostic, Report
from .files import Entry, digest
from .loader import ParseMemo, SiteInputs, Story, load_site, load_story, story_folders, story_signature
from .pages import StoryPage, listed
from .parallel import run_chunks
from .progress import ProgressFn, quiet
from .render import FragmentKey, Renderer, RenderOptions


@dataclass
class BuildResult:
    """What a build produced (nothing when it failed) and everything it reported."""

    files: dict[str, bytes]  # outputs rendered by this build
    report: Report
    keys: dict[str, bytes] = field(default_factory=dict)  # every output of the site -> its key
    kept: set[str] = field(default_factory=set)  # outputs the output folder already holds as they should be
    learnt: bool = True  # whether the state passed in changed (False: an unchanged site, nothing to save)
    sent: set[str] = field(default_factory=set)  # outputs handed to the sink as they were made, not in ``files``
    contexts: tuple[bytes, ...] | None = None  # what the keys were made in besides each story (see _contexts), for the state to record

    def ok(self, strict: bool = False) -> bool:
        """True when the build may be written."""
        return not self.report.failed(strict)


@dataclass
class _Job:
    slug: str
    path: str
    shown: str
    signature: tuple[object, ...]


@dataclass
class _Done:
    """What the work on a chunk of stories gives back to the parent."""

    records: dict[str, StoryRecord]
    files: dict[str, bytes]
    keys: dict[str, bytes]
    fragments: dict[str, dict[FragmentKey, Markup]]
    render_diagnostics: list[Diagnostic]
    pages: dict[str, tuple[bytes, bytes]] = field(default_factory=dict)  # for the page store: slug -> (key, data)
    sent: list[str] = field(default_factory=list)  # outputs handed to the sink (where they were made), not in ``files``
    bodies: dict[str, tuple[bytes, bytes]] = field(default_factory=dict)  # kept blocks of pages, likewise
    # Stories whose record is the one the state holds: not sent back, so the parent keeps its own
    # object (comparing a thousand copies with the saved state would cost a template edit 35 ms).
    unchanged: list[str] = field(default_factory=list)


@dataclass
class _Context:
    """What every story's work needs; set before workers fork, so they inherit it."""

    inputs: SiteInputs
    renderer: Renderer | None
    state: BuildState
    sink: Callable[[dict[str, bytes]], None] | None
    pid: int = field(default_factory=os.getpid)  # the build's own process: work done elsewhere is in a worker


_CONTEXT: _Context | None = None


def _story_chunk(jobs: list[_Job]) -> _Done:
    """Read, check and render some stories (in a worker process, or here)."""
    assert _CONTEXT is not None
    inputs, renderer, state = _CONTEXT.inputs, _CONTEXT.renderer, _CONTEXT.state
    # Pages go to the store for later builds, except where the preview keeps the parsed story itself.
    store = state.pages is not None and not (state.in_memory and os.getpid() == _CONTEXT.pid)
    done = _Done({}, {}, {}, {}, [])
    render_report = Report()
    if renderer is not None:
        saved = renderer.out, renderer.keys, renderer.report
        renderer.out, renderer.keys, renderer.report = done.files, done.keys, render_report
    try:
        for job in jobs:
            old = state.stories.get(job.slug)
            story: Story | None = None
            page: StoryPage | None = None
            current = old is not None and old.signature == job.signature and old.checked_with == inputs.digest
            if current and old is not None and old.parsed is not None:
                story, page, diagnostics = old.parsed, old.page, old.diagnostics  # the preview's parse, still current
            elif current and old is not None and old.listed is not None and renderer is not None and state.pages is not None and (
                renderer.shows(old.listed) and renderer.story_around(job.slug, old.digest, functools.partial(state.pages.body, job.slug))
            ):
                # Only the layout changed: the page was put together around its kept blocks.
                done.fragments[job.slug] = renderer.fragments(old.listed, state.fragments)
                done.unchanged.append(job.slug)
                continue
            elif current and old is not None and old.listed is not None and state.pages is not None and (
                stored := state.pages.get(job.slug, digest(old.digest, inputs.digest))
            ):
                story, page, diagnostics = stored.story, stored, old.diagnostics  # unchanged: only a template changed
            else:
                report = Report()
                # A story read before has its facts in its stored page, as converted from the bytes
                # named by their key: an edit of the narrative alone parses no YAML.
                memo = ParseMemo(functools.partial(state.pages.facts_of, job.slug)) if store and old is not None and state.pages is not None else None
                story = load_story(job.slug, job.path, job.shown, report, memo)
                if story is not None:
                    check_story(story, inputs.publishers, report)
                diagnostics = report.items
            clean = story is not None and not any(d.severity == "error" for d in diagnostics)
            entry = listed(story) if story is not None and clean else None
            record = StoryRecord(job.signature, story.digest if story else b"", inputs.digest, diagnostics, entry)
            if renderer is not None and story is not None and entry is not None and renderer.shows(entry):
                computed = page is None
                page = renderer.story(story, page, keep_body=store)
                done.fragments[job.slug] = renderer.fragments(entry, state.fragments)
                if computed and page is not None and store:
                    done.pages[job.slug] = (digest(story.digest, inputs.digest), storable_page(page))
                if job.slug in renderer.bodies:
                    done.bodies[job.slug] = renderer.bodies.pop(job.slug)
            if state.in_memory:
                record.parsed, record.page = story, page
            elif record == old:  # read again only to render it again (a template changed)
                done.unchanged.append(job.slug)
                continue
            done.records[job.slug] = record
    finally:
        if renderer is not None:
            renderer.out, renderer.keys, renderer.report = saved
    done.render_diagnostics = render_report.items
    if _CONTEXT.sink is not None and done.files:
        # Written where they were made: sending a worker's pages to this process only for it to
        # write them would cost both of them the copying, and this one the writing.
        _CONTEXT.sink(done.files)
        done.sent, done.files = list(done.files), {}
    return done


def _story_folders(inputs: SiteInputs, state: BuildState, touched: set[str] | None, report: Report) -> list[Entry]:
    """The story folders; in the preview, those of its last build when the watcher names none that came or went."""
    if inputs.stories is None:
        return []
    path = inputs.stories.path
    if touched is not None and state.listing is not None and state.listing[0] == path:
        _, folders, found = state.listing
        names = {e.name for e in folders}
        if all(name in names and _is_folder(os.path.join(path, name)) for name in touched):
            report.items.extend(found)
            return folders
    listed_report = Report()
    folders = story_folders(path, inputs.stories.shown, listed_report)
    report.items.extend(listed_report.items)
    if state.in_memory:
        state.listing = (path, folders, listed_report.items)
    return folders


def _is_folder(path: str) -> bool:
    try:
        return stat.S_ISDIR(os.stat(path, follow_symlinks=False).st_mode)
    except OSError:
        return False


def _contexts(renderer: Renderer) -> tuple[bytes, ...]:
    """Everything a story's outputs and list entries depend on besides the story itself."""
    return renderer.context, renderer.data_context, renderer.fragment_context


def _recorded(slug: str, have: Mapping[str, bytes]) -> tuple[tuple[str, bytes], ...] | None:
    """A shown story's two outputs with their recorded keys, when both files are still as written; None otherwise."""
    page, data = f"{slug}/index.html", f"{slug}/facts.json"
    if page in have and data in have:
        return ((page, have[page]), (data, have[data]))
    return None


def _settle(
    settled: dict[str, tuple[tuple[str, bytes], ...]] | None,
    changed: Iterable[str],
    stories: dict[str, StoryRecord],
    keys: dict[str, bytes],
) -> dict[str, tuple[tuple[str, bytes], ...]]:
    """Each story's own outputs with their keys, after a build that succeeded (``changed``: the stories it looked at)."""
    settled = dict(settled) if settled is not None else {}
    for slug in changed:
        if slug in stories:
            settled[slug] = tuple((path, keys[path]) for path in (f"{slug}/index.html", f"{slug}/facts.json") if path in keys)
        else:
            settled.pop(slug, None)
    return settled


def build(
    content_dir: str,
    templates_dir: str,
    options: RenderOptions | None = None,
    state: BuildState | None = None,
    out_dir: str | None = None,
    progress: ProgressFn = quiet,
    jobs: int = 1,
    touched: set[str] | None = None,
    sink: Callable[[dict[str, bytes]], None] | None = None,
    seen: Mapping[str, os.stat_result] | None = None,
) -> BuildResult:
    """Check the content, then render it in memory; nothing is rendered while the content has errors.

    ``state`` (updated in place) lets the build skip what has not changed since it was made; with
    ``out_dir``, outputs already there as they should be are kept rather than rendered. The result
    is the same as a full build's. ``jobs`` > 1 spreads the stories over that many processes.
    ``touched`` (the preview, told by file-system events) names the only story folders that may
    have changed since the state was made; the others are not even looked at. ``sink``, when
    given, receives the stories' own pages as they are made (a new site written as it is built,
    never held in memory whole), in the worker process that made them, so it must work in a forked
    process; they are then not in the result's ``files``, and the caller undoes what it wrote
    when the build fails or raises. ``seen`` holds the
    stat of entries under the content folder taken before the build began (see fingerprint).
    """
    global _CONTEXT
    options = options or RenderOptions()
    state = state if state is not None else BuildState()
    report = Report()
    if touched is not None and state.site_inputs is not None:
        # The watcher saw changes in story folders only: site.yaml, publishers.yaml and the
        # content folder's listing are as last read, and so are their diagnostics.
        inputs, site_diagnostics = state.site_inputs
        report.items.extend(site_diagnostics)
    else:
        memo = ParseMemo(state.pages.recall) if state.pages is not None else None
        inputs = load_site(content_dir, report, memo)
        if memo is not None and memo.made and state.pages is not None:
            state.pages.keep_parsed(memo.made)
        if state.in_memory:
            state.site_inputs = (inputs, list(report.items))
    render_report = Report()  # template problems count only once the content is clean
    renderer = None
    settled: dict[str, tuple[tuple[str, bytes], ...]] | None = None
    have: dict[str, bytes] = {}
    recorded = False  # whether the recorded outputs' keys were made in this build's contexts
    if inputs.site is not None:
        # The preview trusts the files it wrote itself, unless something else has written since.
        trust = touched is not None and out_dir is not None and state.untouched(out_dir)
        have = state.intact(out_dir, trust=trust) if out_dir is not None else {}
        renderer = Renderer(inputs, templates_dir, options, render_report, have, state.environment, state.compiled_dir, state.analyses)
        if trust and state.settled is not None and state.settled[0] == _contexts(renderer):
            settled = state.settled[1]
        recorded = state.contexts is not None and state.contexts == _contexts(renderer)
    state.settled = None  # set again only by a build that succeeds
    folders = _story_folders(inputs, state, touched, report)
    records: dict[str, StoryRecord] = {}
    todo: list[_Job] = []
    for e in folders:
        old = state.stories.get(e.name)
        if old is not None and settled is not None and touched is not None and e.name not in touched and (outputs := settled.get(e.name)) is not None:
            # The preview, told which story folders changed, takes every other story as the last
            # successful build left it: its record, its outputs' keys (the files are still as
            # written: no other writer since) and its list entries, all made in the same contexts.
            records[e.name] = old
            renderer.keys.update(outputs)  # type: ignore[union-attr]  # settled only with a renderer
            continue
        trusted = touched is not None and e.name not in touched and old is not None
        signature = old.signature if trusted and old is not None else story_signature(e.path, seen)
        if old is not None and old.signature == signature and old.checked_with == inputs.digest:
            if old.listed is None or renderer is None or not renderer.shows(old.listed):
                records[e.name] = old
                continue
            if recorded and (outputs := _recorded(e.name, have)) is not None:
                # Its outputs' keys, as recorded after the last build, are those story_keys would
                # make (same story, same contexts), and its files are as written: a one-story
                # rebuild of a large site need not digest every other story's keys again.
                records[e.name] = old
                renderer.keys.update(outputs)
                continue
            page, data = renderer.story_keys(e.name, old.digest)
            if not (page or data or any(key not in state.fragments for key in renderer.fragment_keys(old.listed))):
                records[e.name] = old
                continue
        todo.append(_Job(e.name, e.path, e.shown, signature))
    if todo and renderer is not None:
        renderer.analyse()  # once here, rather than in every worker
    new_fragments: dict[FragmentKey, Markup] = {}
    sent: set[str] = set()
    _CONTEXT = _Context(inputs, renderer, state, sink)
    try:
        # The page store's connection (open since the site's files were looked up) must not
        # cross into the workers: SQLite warns against carrying a connection into a forked child.
        before_fork = state.pages.close if state.pages is not None else None
        for count, done in run_chunks(_story_chunk, todo, jobs, before_fork):
            progress("building stories", count, len(todo))
            records.update(done.records)
            records.update((slug, state.stories[slug]) for slug in done.unchanged)
            if renderer is not None:
                renderer.keys.update(done.keys)
                renderer.out.update(done.files)
                sent.update(done.sent)
            for made in done.fragments.values():
                new_fragments.update(made)
            render_report.items.extend(done.render_diagnostics)
            if state.pages is not None and done.pages:
                state.pages.put(done.pages)  # valid whatever the build's outcome: kept by content digest
            if state.pages is not None and done.bodies:
                state.pages.put(done.bodies, "bodies")
    finally:
        _CONTEXT = None
    learnt = bool(todo) or len(records) != len(state.stories)
    if learnt:
        # A recorded key is taken for a story's only while its record is the one the key was made
        # from: set again when this build's outputs are recorded, never if it fails.
        state.contexts = None
    before = state.stories
    state.stories = {e.name: records[e.name] for e in folders if e.name in records}
    for record in state.stories.values():
        report.items.extend(record.diagnostics)
    if report.failed() or renderer is None:
        return BuildResult({}, report)
    shown = [r.listed for r in state.stories.values() if r.listed is not None and renderer.shows(r.listed)]
    # Only the list entries this site uses are kept: the state follows the site, not its history.
    # When the last build's entries are all still used (settled stories in the preview, or the
    # contexts of the recorded outputs unchanged), only those of the stories looked at, or gone,
    # are dropped and added.
    partial = settled is not None or recorded
    removed = before.keys() - state.stories.keys()
    changed = state.stories.keys() if not partial else {job.slug for job in todo} | (touched or set()) | removed
    fragments: dict[FragmentKey, str] = dict(state.fragments) if partial else {}
    if partial:
        for slug in changed:
            gone = before.get(slug)
            if gone is not None and gone.listed is not None:
                for key in renderer.fragment_keys(gone.listed):
                    fragments.pop(key, None)
    for slug in changed:
        now = state.stories.get(slug)
        if now is None or now.listed is None or not renderer.shows(now.listed):
            continue
        for key in renderer.fragment_keys(now.listed):
            text = new_fragments.get(key) or state.fragments.get(key)
            if text is not None:  # None only when its template failed, and then the build fails too
                fragments[key] = text
    renderer.lists(shown, fragments)
    state.environment = renderer.environment() or state.environment  # kept with its templates' digest: never used stale
    state.analyses = renderer.analysed()
    report.extend(render_report)
    if report.failed():
        return BuildResult({}, report)
    state.fragments = fragments
    if state.in_memory and out_dir is not None:
        state.settled = (_contexts(renderer), _settle(settled, changed, state.stories, renderer.keys))
    if state.pages is not None and learnt:
        state.pages.prune(set(state.stories))
    kept = set(renderer.keys) - set(renderer.out) - sent
    return BuildResult(renderer.out, report, renderer.keys, kept, learnt or bool(renderer.out) or bool(sent), sent, _contexts(renderer))
