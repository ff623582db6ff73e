"""Render the checked content through the Jinja templates into ``{output path: bytes}``.

Pure: reads templates and static files, writes nothing. Template problems become diagnostics that
name the template and its line.
"""

from __future__ import annotations

import hashlib
import os
import traceback
from collections import defaultdict
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import jinja2
from markupsafe import Markup, escape

from .cache import BuildCache, Frozen, digest
from .diagnostics import Pos, Report
from .files import display, is_ignored
from .jsonout import article_ld, facts_json, page_ld
from .loader import Content, Story
from .model import SiteConfig, Stamp
from .pages import STATUS_LABELS, join_names, latest, modified, story_page
from .progress import ProgressFn, quiet

HASHED = (".css", ".js", ".svg")
EPOCH = "1970-01-01T00:00:00Z"


@dataclass(frozen=True)
class RenderOptions:
    """What changes how the site is rendered."""

    drafts: bool = False
    base_url: str | None = None


def make_env(templates_dir: str) -> jinja2.Environment:
    """The Jinja environment: autoescaped everywhere, and a misspelled name fails instead of printing nothing."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates_dir),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["human"] = lambda stamp: stamp.human()
    env.globals["status_labels"] = STATUS_LABELS
    env.globals["join_names"] = join_names
    return env


def templates_digest(templates_dir: str) -> bytes:
    """A digest of every file under the templates folder: names and bytes."""
    parts: list[bytes] = []
    seen: set[str] = set()
    # Jinja follows symbolic links, so the digest does too (each real folder once, so a loop ends).
    for folder, dirs, files in os.walk(templates_dir, followlinks=True):
        real = os.path.realpath(folder)
        if real in seen:
            dirs[:] = []
            continue
        seen.add(real)
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(folder, name)
            parts.append(os.path.relpath(path, templates_dir).encode("utf-8", "surrogateescape"))
            try:
                with open(path, "rb") as f:
                    parts.append(f.read())
            except OSError:
                parts.append(b"\0unreadable")
    return digest(*parts)


def static_files(templates_dir: str, report: Report) -> dict[str, tuple[str, bytes]]:
    """The theme's static files: name → (output path, bytes); CSS and JS names carry a content hash."""
    root = os.path.join(templates_dir, "static")
    found: dict[str, tuple[str, bytes]] = {}
    if not os.path.isdir(root):
        return found
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not is_ignored(d))
        for name in sorted(files):
            path = os.path.join(folder, name)
            if is_ignored(name) or os.path.islink(path):
                continue
            rel = os.path.relpath(path, root).replace(os.sep, "/")
            try:
                with open(path, "rb") as f:
                    data = f.read()
            except OSError as exc:
                report.error(Pos(display(templates_dir, "static", rel)), f"cannot read: {exc.strerror or exc}")
                continue
            stem, ext = os.path.splitext(rel)
            out = f"{stem}.{hashlib.sha256(data).hexdigest()[:10]}{ext}" if ext in HASHED else rel
            found[rel] = ("static/" + out, data)
    return found


class Renderer:
    """Renders every page of one site."""

    def __init__(
        self,
        content: Content,
        templates_dir: str,
        options: RenderOptions,
        report: Report,
        cache: BuildCache | None = None,
        progress: ProgressFn = quiet,
    ) -> None:
        assert content.site is not None
        self.progress = progress
        self.cache = cache
        # Everything a story's own pages depend on besides the story: a cached page is reused only
        # when all of it is unchanged.
        templates = templates_digest(templates_dir) if cache else b""
        self.context = digest(content.digest, templates, repr(options).encode()) if cache else b""
        self.site: SiteConfig = content.site
        self.publishers = content.publishers
        self.templates_dir = templates_dir
        self.report = report
        self.base = (options.base_url or self.site.base_url).rstrip("/") + "/"
        self.stories = sorted(
            (s for s in content.stories if options.drafts or not s.facts.draft),
            key=lambda s: (-_timestamp(s.facts.published), s.slug),
        )
        # Compiling templates is a large part of a small build: reuse the compiled environment while
        # no template file has changed.
        env_key = (os.path.abspath(templates_dir), templates)
        env = cache.environments.get(env_key) if cache is not None else None
        if env is None:
            env = make_env(templates_dir)
            if cache is not None:
                cache.environments.put(env_key, env)
        self.env: jinja2.Environment = env
        self.static = static_files(templates_dir, report)
        self.out: dict[str, bytes] = {}
        self.entries: dict[str, Frozen] = {}  # slug -> what lists show of the story
        self.fragments: dict[Any, Markup] = {}
        self.callers: dict[tuple[str, str], jinja2.Template] = {}

    def canonical(self, folder: str) -> str:
        """The absolute URL of a page folder ('' for the home page)."""
        return self.base + folder

    def page(self, template: str, folder: str, key: Any = None, **context: Any) -> None:
        """Render one HTML page into ``folder/index.html`` (or a named file when folder ends in .html)."""
        path = folder if folder.endswith(".html") else folder + "index.html"
        # Relative links keep the site working under any base path; a page served from any
        # address (404.html) passes an absolute root instead.
        root = context.pop("root", None) or "../" * path.count("/") or "./"
        url_folder = "" if folder.endswith(".html") else folder
        self.render(template, path, key, root=root, canonical=self.canonical(url_folder), **context)

    def render(self, template: str, path: str, key: Any = None, **context: Any) -> None:
        """Render a template to an output path, turning any template failure into a located error.

        ``key`` names exactly the data the page shows beyond the site, publishers and templates;
        with a cache, a page whose key is unchanged is reused instead of rendered.
        """
        memo_key = (template, path, self.context, key)
        if key is not None and self.cache is not None:
            cached = self.cache.pages.get(memo_key)
            if cached is not None:
                self.out[path] = cached
                return
        self._render(template, path, **context)
        if key is not None and self.cache is not None and not self.report.failed():
            self.cache.pages.put(memo_key, self.out[path])

    def _render(self, template: str, path: str, **context: Any) -> None:
        root = context.get("root", "./")
        # The root is escaped like any text: on 404.html it comes from base_url, not from us.
        context.setdefault("asset", lambda name: escape(root) + self.static[name][0] if name in self.static else self._missing_asset(name))
        try:
            text = self.env.get_template(template).render(site=self.site, publishers=self.publishers, **context)
        except jinja2.TemplateSyntaxError as exc:
            name = exc.filename or exc.name or template
            self.report.error(Pos(self._shown(name), exc.lineno or 0), f"template error: {exc.message}")
            return
        except jinja2.TemplateNotFound as exc:
            self.report.error(Pos(display(self.templates_dir, str(exc.name or template))), "template not found")
            return
        except Exception as exc:  # a template's runtime failure (undefined name, bad filter argument, ...)
            self.report.error(self._where(exc, template), f"template error: {type(exc).__name__}: {exc}")
            return
        self.out[path] = text.encode("utf-8")

    def listing(self, stories: list[tuple[Story, Stamp]]) -> tuple[Frozen, ...]:
        """Exactly what lists of stories (home, topics, publishers, feed) show of each story."""
        return tuple(self.entries[s.slug] for s, _ in stories)

    def cards(self, stories: list[tuple[Story, Stamp]], root: str) -> list[Markup]:
        """Each story's list card for a page at ``root``, rendered once and reused (see _macros.html)."""
        return [self.fragment("_macros.html", "story_card", (root,), story, stamp, root) for story, stamp in stories]

    def fragment(self, template: str, macro: str, extra: tuple[Any, ...], story: Story, stamp: Stamp, *args: Any) -> Markup:
        """A macro's output for one story, rendered once per build and, with a cache, once while unchanged.

        The key is exactly what the fragment shows of the story (its listing entry) plus ``extra``.
        """
        key = (template, macro, extra, self.entries[story.slug], self.context)
        cached = self.fragments.get(key)
        if cached is None and self.cache is not None:
            cached = self.cache.pages.get(key)
        if cached is None:
            try:
                cached = Markup(self._fragment_template(template, macro).render(story=story, stamp=stamp, args=args))
            except Exception as exc:  # a template's failure, reported at its line like any other
                self.report.error(self._where(exc, template), f"template error: {type(exc).__name__}: {exc}")
                return Markup("")  # never cached: the build fails, and the next one must try again
            if self.cache is not None and not self.report.failed():
                self.cache.pages.put(key, cached)
        self.fragments[key] = cached
        return cached

    def _fragment_template(self, template: str, macro: str) -> jinja2.Template:
        """A one-line template calling a macro: rendering through it lets Jinja map errors to template lines."""
        compiled = self.callers.get((template, macro))
        if compiled is None:
            compiled = self.env.from_string(f'{{% from "{template}" import {macro} %}}{{{{ {macro}(story, stamp, *args) }}}}')
            self.callers[(template, macro)] = compiled
        return compiled

    def _missing_asset(self, name: str) -> Markup:
        raise jinja2.TemplateRuntimeError(f"no static file '{name}' under {display(self.templates_dir, 'static')}")

    def _shown(self, filename: str) -> str:
        """A template's path as the author named the templates folder (Jinja may give it either way)."""
        path = os.path.relpath(os.path.abspath(filename), os.path.abspath(self.templates_dir))
        return display(self.templates_dir, path)

    def _where(self, exc: BaseException, template: str) -> Pos:
        """The innermost template line in a traceback (Jinja maps frames back to template lines)."""
        root = os.path.abspath(self.templates_dir)
        for frame in reversed(traceback.extract_tb(exc.__traceback__)):
            if os.path.abspath(frame.filename).startswith(root + os.sep):
                return Pos(self._shown(frame.filename), frame.lineno or 0)
        return Pos(display(self.templates_dir, template))

    def render_all(self) -> dict[str, bytes]:
        """Every output of the site."""
        site = self.site
        for out, data in self.static.values():
            self.out[out] = data
        listed = [(s, modified(s)) for s in self.stories]
        self.entries = {s.slug: _entry(s, stamp) for s, stamp in listed}
        home_ld = page_ld("WebSite", site.title, site.description, self.canonical(""), site)
        self.page("index.html", "", key=self.listing(listed), stories=listed, cards=self.cards(listed, "./"), ld=home_ld)
        topics: dict[str, list[tuple[Story, Stamp]]] = defaultdict(list)
        cited_by: dict[str, list[tuple[Story, Stamp]]] = defaultdict(list)
        for done, (story, stamp) in enumerate(listed, 1):
            self.progress("rendering stories", done, len(listed))
            self._story(story)
            for topic in dict.fromkeys(t.name for t in story.facts.topics):
                topics[topic].append((story, stamp))
            for pid in dict.fromkeys(s.publisher.name for s in story.facts.sources.values()):
                cited_by[pid].append((story, stamp))
        for topic in sorted(topics):
            folder = f"topics/{topic}/"
            self.page("topic.html", folder, key=self.listing(topics[topic]), topic=topic, stories=topics[topic],
                      cards=self.cards(topics[topic], "../../"),
                      ld=page_ld("CollectionPage", f"Topic: {topic}", f"Explainers about {topic}", self.canonical(folder), site))
        counts = tuple((t, len(topics[t])) for t in sorted(topics))
        self.page("topics.html", "topics/", key=counts, topics=sorted(topics.items()),
                  ld=page_ld("CollectionPage", "Topics", "Every topic of the site", self.canonical("topics/"), site))
        cited = sorted((self.publishers[p] for p in cited_by), key=lambda p: (p.name.casefold(), p.id))
        cited_counts = [(p, len(cited_by[p.id])) for p in cited]
        self.page("publishers.html", "sources/", key=tuple((p.id, n) for p, n in cited_counts), cited=cited_counts,
                  ld=page_ld("CollectionPage", "Sources", "Every publisher the site cites", self.canonical("sources/"), site))
        for p in cited:
            folder = f"sources/{p.id}/"
            self.page("publisher.html", folder, key=self.listing(cited_by[p.id]), publisher=p, stories=cited_by[p.id],
                      cards=self.cards(cited_by[p.id], "../../"),
                      ld=page_ld("CollectionPage", p.name, f"Explainers citing {p.name}", self.canonical(folder), site))
        self.page("404.html", "404.html", key=(), root=_path_of(self.base), root_path=_path_of(self.base),
                  ld=page_ld("WebPage", "Page not found", site.description, self.canonical("404.html"), site))
        # Compare instants, never strings: offsets make string order wrong.
        newest = latest([stamp for _, stamp in listed]) if listed else None
        updated = newest.rfc3339() if newest else EPOCH
        entries = [self.fragment("_feed.xml", "feed_entry", (self.base,), s, stamp, self.base, site) for s, stamp in listed]
        self.render("feed.xml", "feed.xml", self.listing(listed), base=self.base, stories=listed, entries=entries, updated=updated)
        pages: list[tuple[str, str | None]] = [("", newest.text if newest else None)]
        pages += [(f"{story.slug}/", stamp.text) for story, stamp in listed]
        pages += [(f"topics/{t}/", None) for t in sorted(topics)] + [("topics/", None), ("sources/", None)]
        pages += [(f"sources/{p.id}/", None) for p in cited]
        self.render("sitemap.xml", "sitemap.xml", tuple(pages), base=self.base, pages=pages)
        self.out["robots.txt"] = f"User-agent: *\nAllow: /\n\nSitemap: {self.base}sitemap.xml\n".encode()
        return self.out

    def _story(self, story: Story) -> None:
        key = (story.slug, story.digest, self.context)
        cached = self.cache.pages.get(key) if self.cache is not None else None
        if cached is not None:
            self.out.update(cached)
            return
        page = story_page(story, self.publishers)
        folder = f"{story.slug}/"
        canonical = self.canonical(folder)
        self.page("story.html", folder, page=page, facts=story.facts, ld=article_ld(page, self.site, canonical))
        self.out[f"{story.slug}/facts.json"] = facts_json(page, self.publishers, canonical)
        if self.cache is not None and not self.report.failed():
            paths = (f"{folder}index.html", f"{story.slug}/facts.json")
            self.cache.pages.put(key, {p: self.out[p] for p in paths})


def _entry(s: Story, stamp: Stamp) -> Frozen:
    return Frozen((s.slug, s.facts.headline, s.facts.summary, s.facts.published.text if s.facts.published else "", s.facts.byline,
                   tuple(t.name for t in s.facts.topics), s.facts.draft, stamp.text, stamp.rfc3339()))


def _timestamp(stamp: Stamp | None) -> float:
    return stamp.sort_value().timestamp() if stamp else 0.0


def _path_of(base: str) -> str:
    """The path part of the base URL: where 404.html's absolute links start."""
    return urlsplit(base).path or "/"


def render_site(
    content: Content,
    templates_dir: str,
    options: RenderOptions,
    report: Report,
    cache: BuildCache | None = None,
    progress: ProgressFn = quiet,
) -> dict[str, bytes]:
    """Render a checked site; template problems are added to the report. A cache reuses unchanged story pages."""
    return Renderer(content, templates_dir, options, report, cache, progress).render_all()
