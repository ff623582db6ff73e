"""Render the checked content through the Jinja templates into ``{output path: bytes}``.

Pure: reads templates and static files, writes nothing. Template problems become diagnostics that
name the template and its line.
"""

from __future__ import annotations

import functools
import hashlib
import operator
import os
import traceback
import types
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from markupsafe import Markup, escape

from .diagnostics import Pos, Report
from .files import digest, display, is_ignored, key_of
from .jsonout import article_ld, facts_json, page_ld
from .layout import TemplateFacts, block_dependencies, body_data, render_around_blocks, render_keeping_blocks, templates_reached
from .loader import SiteInputs, Story
from .model import SiteConfig
from .pages import STATUS_LABELS, Listed, StoryPage, join_names, story_page

if TYPE_CHECKING:  # Jinja is imported when the first template is rendered: an unchanged site never needs it
    import jinja2

HASHED = (".css", ".js", ".svg")
FragmentKey = tuple[bytes, int, bytes]  # (render context, which fragment, Listed.key)
_NO_CARD = Markup("")
_KEY = operator.attrgetter("key")  # a Listed's key, for joining a whole group's keys at C speed
EPOCH = "1970-01-01T00:00:00Z"


@dataclass(frozen=True)
class RenderOptions:
    """What changes how the site is rendered."""

    drafts: bool = False
    base_url: str | None = None


def make_env(templates_dir: str, compiled_dir: str | None = None) -> jinja2.Environment:
    """The Jinja environment: autoescaped everywhere, and a misspelled name fails instead of printing nothing.

    With ``compiled_dir``, compiled templates are kept there between runs (Jinja checks each
    against its template's source), which spares a small rebuild most of its time.
    """
    import jinja2

    cache = None
    if compiled_dir is not None:
        os.makedirs(compiled_dir, exist_ok=True)
        cache = compiled_templates(compiled_dir)
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates_dir),
        bytecode_cache=cache,
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        # An environment is only ever used with the templates' digest it was made for (see
        # Renderer.environment), so Jinja need not look at every template's file at each use.
        auto_reload=False,
    )
    env.filters["human"] = lambda stamp: stamp.human()
    env.globals["status_labels"] = STATUS_LABELS
    env.globals["join_names"] = join_names
    return env


def compiled_templates(folder: str) -> Any:
    """Jinja's cache of compiled templates in a folder, where a damaged file means compiling again, not failing."""
    import jinja2

    class CompiledTemplates(jinja2.FileSystemBytecodeCache):
        def load_bytecode(self, bucket: Any) -> None:
            try:
                super().load_bytecode(bucket)
            except Exception:
                bucket.reset()
            if not isinstance(bucket.code, (types.CodeType, type(None))):
                bucket.reset()

    return CompiledTemplates(folder)


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


# What story.html is given, and what its layout would be given again around kept blocks.
_STORY_GIVEN = {"site", "publishers", "root", "canonical", "page", "facts", "ld", "asset"}
_LAYOUT_GIVEN = {"site", "publishers", "root", "canonical", "ld", "asset"}


class Later:
    """A template value computed only if the page is rendered after all (its key may say it need not be)."""

    __slots__ = ("make",)

    def __init__(self, make: Callable[[], Any]) -> None:
        self.make = make

    def __call__(self) -> Any:
        """The value."""
        return self.make()


class Cards(tuple[Markup, ...]):
    """A list page's rendered cards (or feed entries): loop over them, or print them all with ``{{ cards }}``.

    Printing them whole costs one join; a template loop escapes each card again, which for the
    home page of a thousand stories is most of its rendering time.
    """

    __slots__ = ()

    def __html__(self) -> str:
        """Every card, as a loop printing each would (each ends its own line)."""
        return "".join(self)


# The templates' digest, the analyses made for it by what was analysed, and each template's facts (layout.TemplateFacts).
Analyses = tuple[bytes, dict[str, bytes | None], dict[tuple[str, str], tuple[bytes, Any]]]


class Renderer:
    """Renders the pages of one site, skipping every output whose key says the file on disk is already right.

    Each output's key digests everything it depends on; ``have`` holds the keys of the files
    already in the output folder, and ``keys`` collects the key of every output of this build.
    """

    def __init__(
        self,
        inputs: SiteInputs,
        templates_dir: str,
        options: RenderOptions,
        report: Report,
        have: dict[str, bytes] | None = None,
        environment: tuple[bytes, jinja2.Environment] | None = None,
        compiled_dir: str | None = None,
        analyses: Analyses | None = None,
    ) -> None:
        assert inputs.site is not None
        self.site: SiteConfig = inputs.site
        self.publishers = inputs.publishers
        self.templates_dir = templates_dir
        self.options = options
        self.report = report
        self.have = have or {}
        self.base = (options.base_url or self.site.base_url).rstrip("/") + "/"
        templates = templates_digest(templates_dir)
        # What a story's page depends on besides the story, and what its facts.json does (no template).
        self.context = digest(inputs.digest, templates, repr(options).encode())
        self.data_context = digest(inputs.digest, self.base.encode())
        # Compiling templates is a large part of a small build: the preview passes the environment
        # of its last build, reused while no template file has changed; the command line keeps
        # compiled templates in compiled_dir.
        self.templates = templates
        self.compiled_dir = compiled_dir
        self._env = environment[1] if environment is not None and environment[0] == templates else None
        self._reused = self._env
        self.static = static_files(templates_dir, report)
        self.out: dict[str, bytes] = {}
        self.keys: dict[str, bytes] = {}
        self.body_context = digest(inputs.digest, repr(options).encode())
        self.bodies: dict[str, tuple[bytes, bytes]] = {}  # slug -> (key, kept blocks) of the story pages rendered whole
        # The templates' analyses by what was analysed, kept by the build state with the templates'
        # digest: parsing the templates again would cost a small rebuild a tenth of its time. After
        # a template edit, what each unchanged template's source showed is still known.
        self.analyses: dict[str, bytes | None] = dict(analyses[1]) if analyses is not None and analyses[0] == templates else {}
        self.template_facts = TemplateFacts(analyses[2] if analyses is not None else None)

    def analysed(self) -> Analyses:
        """The analyses of this build, for the next one (see ``analyses``)."""
        return (self.templates, self.analyses, self.template_facts.kept())

    def _analysed(self, what: str, analyse: Callable[[], bytes | None]) -> bytes | None:
        """A templates analysis, done once per state of the templates folder."""
        if what not in self.analyses:
            self.analyses[what] = analyse()
        return self.analyses[what]

    def analyse(self) -> None:
        """Analyse the templates now (see layout), if that was not done for these templates already."""
        _ = self.fragment_context  # each is computed on first use, and cached
        _ = self.body_templates

    @functools.cached_property
    def fragment_context(self) -> bytes:
        """What list fragments depend on besides the story: the templates their macros reach (all, when unsure)."""
        reached = self._analysed("fragments", lambda: templates_reached(self.env, [t for t, _, _ in self.fragment_calls()], self.template_facts))
        return digest(self.body_context, reached or self.templates)

    @functools.cached_property
    def body_templates(self) -> bytes | None:
        """What a story page's own blocks depend on among the templates; None when they may depend on the layout."""
        return self._analysed("story.html", lambda: block_dependencies(self.env, "story.html", _STORY_GIVEN, _LAYOUT_GIVEN, self.template_facts))

    @functools.cached_property
    def static_names(self) -> bytes:
        """The static files' names as pages link them (a stylesheet's name carries its content's hash)."""
        return repr(sorted((name, out) for name, (out, _) in self.static.items())).encode()

    def body_key(self, story_digest: bytes) -> bytes | None:
        """The key under which a story page's blocks are kept; None when they cannot be reused."""
        if self.body_templates is None:
            return None
        return digest(b"story.html", story_digest, self.body_context, self.body_templates, self.static_names)

    @property
    def env(self) -> jinja2.Environment:
        """The Jinja environment, made when first needed."""
        if self._env is None:
            self._env = make_env(self.templates_dir, self.compiled_dir)
        return self._env

    def environment(self) -> tuple[bytes, jinja2.Environment] | None:
        """The environment with the digest of the templates it was made from, if one was made and may be reused."""
        if self._env is None:
            return None
        # Jinja reads each template when first used, after the digest was taken, and never looks
        # again (auto_reload is off): an environment made while a template was being saved could
        # hold a version its digest does not name. Reused only if the templates are as digested.
        if self._env is not self._reused and templates_digest(self.templates_dir) != self.templates:
            return None
        return (self.templates, self._env)

    def shows(self, listed: Listed) -> bool:
        """Whether this build renders the story (drafts only with --drafts)."""
        return self.options.drafts or not listed.facts.draft

    def canonical(self, folder: str) -> str:
        """The absolute URL of a page folder ('' for the home page)."""
        return self.base + folder

    def needs(self, path: str, key: bytes) -> bool:
        """Record an output's key; True when it must be rendered (the file on disk is not already it)."""
        self.keys[path] = key
        return self.have.get(path) != key

    def page(self, template: str, folder: str, key: bytes, **context: Any) -> None:
        """Render one HTML page into ``folder/index.html`` (or a named file when folder ends in .html)."""
        path = folder if folder.endswith(".html") else folder + "index.html"
        if not self.needs(path, digest(template.encode(), path.encode(), self.context, key)):
            return
        context = {name: value() if isinstance(value, Later) else value for name, value in context.items()}
        # Relative links keep the site working under any base path; a page served from any
        # address (404.html) passes an absolute root instead.
        root = context.pop("root", None) or "../" * path.count("/") or "./"
        url_folder = "" if folder.endswith(".html") else folder
        self._render(template, path, root=root, canonical=self.canonical(url_folder), **context)

    def render(self, template: str, path: str, key: bytes, **context: Any) -> None:
        """Render a template to an output path unless its key is unchanged."""
        if self.needs(path, digest(template.encode(), path.encode(), self.context, key)):
            self._render(template, path, **{name: value() if isinstance(value, Later) else value for name, value in context.items()})

    def _render(self, template: str, path: str, keep: dict[str, str] | None = None, around: Mapping[str, str] | None = None,
                **context: Any) -> bool:
        """Render one output; ``keep`` receives the page's own blocks, ``around`` gives them instead of rendering them.

        False only when ``around`` lacks a block the layout uses (nothing is rendered then).
        """
        import jinja2

        root = context.get("root", "./")
        # The root is escaped like any text: on 404.html it comes from base_url, not from us.
        context.setdefault("asset", lambda name: escape(root) + self.static[name][0] if name in self.static else self._missing_asset(name))
        try:
            page = self.env.get_template(template)
            variables = {"site": self.site, "publishers": self.publishers, **context}
            if around is not None:
                made = render_around_blocks(page, variables, around)
                if made is None:
                    return False
                text = made
            elif keep is not None:
                text, blocks = render_keeping_blocks(page, variables)
                keep.update(blocks)
            else:
                text = page.render(variables)
        except jinja2.TemplateSyntaxError as exc:
            name = exc.filename or exc.name or template
            self.report.error(Pos(self._shown(name), exc.lineno or 0), f"template error: {exc.message}")
            return True
        except jinja2.TemplateNotFound as exc:
            self.report.error(Pos(display(self.templates_dir, str(exc.name or template))), "template not found")
            return True
        except Exception as exc:  # a template's runtime failure (undefined name, bad filter argument, ...)
            self.report.error(self._where(exc, template), f"template error: {type(exc).__name__}: {exc}")
            return True
        self.out[path] = text.encode("utf-8")
        return True

    # A story in lists: its card as the home page shows it, as pages two folders deep show it, and
    # its feed entry. Each is rendered once per story and reused while the story's Listed is unchanged.
    def fragment_calls(self) -> list[tuple[str, str, tuple[Any, ...]]]:
        """(template, macro, arguments) of each list fragment of a story, in the order of fragment_keys."""
        return [
            ("_macros.html", "story_card", ("./",)),
            ("_macros.html", "story_card", ("../../",)),
            ("_feed.xml", "feed_entry", (self.base, self.site)),
        ]

    def fragment_keys(self, listed: Listed) -> list[FragmentKey]:
        """The keys of a story's list fragments: what the story shows in lists, and everything else they depend on."""
        return [(self.fragment_context, which, listed.key) for which in range(3)]

    def fragments(self, listed: Listed, known: Mapping[FragmentKey, str]) -> dict[FragmentKey, Markup]:
        """The story's list fragments that ``known`` lacks, rendered (as markup, which is what list templates are given)."""
        made: dict[FragmentKey, Markup] = {}
        for key, (template, macro, args) in zip(self.fragment_keys(listed), self.fragment_calls(), strict=True):
            if key in known:
                continue
            try:
                try:
                    made[key] = Markup(self._fragment_macro(template, macro)(listed, listed.modified, *args))
                except Exception:
                    self.env.handle_exception()  # raises it again, its traceback mapped to template lines
            except Exception as exc:  # a template's failure, reported at its line like any other
                self.report.error(self._where(exc, template), f"template error: {type(exc).__name__}: {exc}")
        return made

    def _fragment_macro(self, template: str, macro: str) -> Callable[..., str]:
        """A list macro, called directly: through a template that calls it, a card costs three times as much."""
        import jinja2

        # The template's module is made once and kept with the environment, which the preview
        # reuses while no template changes.
        module = self.env.get_template(template).module
        if not hasattr(module, macro):  # worded as Jinja words it for an import of a missing name
            raise jinja2.UndefinedError(f"the template '{template}' does not export the requested name '{macro}'")
        found: Callable[..., str] = getattr(module, macro)  # not a macro: calling it fails, reported like any failure
        return found

    def _missing_asset(self, name: str) -> Markup:
        import jinja2

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

    def story_keys(self, slug: str, story_digest: bytes) -> tuple[bool, bool]:
        """Record the keys of a story's own two outputs: whether its page, and its facts.json, must be rendered."""
        page = self.needs(f"{slug}/index.html", digest(b"story.html", story_digest, self.context))
        data = self.needs(f"{slug}/facts.json", digest(b"facts.json", story_digest, self.data_context))
        return page, data

    def story_around(self, slug: str, story_digest: bytes, kept: Callable[[bytes], tuple[dict[str, str], str] | None]) -> bool:
        """Render a story's page around its kept blocks, when only its layout changed; False when it cannot be.

        ``kept`` gives the blocks and JSON-LD kept under a key, if any were.
        """
        want_page, want_data = self.story_keys(slug, story_digest)
        if want_data:
            return False
        if not want_page:
            return True
        key = self.body_key(story_digest)
        found = kept(key) if key is not None else None
        if found is None:
            return False
        blocks, ld = found
        folder = f"{slug}/"
        return self._render("story.html", f"{folder}index.html", around=blocks, root="../", canonical=self.canonical(folder), ld=Markup(ld))

    def story(self, story: Story, page: StoryPage | None = None, keep_body: bool = False) -> StoryPage | None:
        """Render a story's page and facts.json where their keys changed; returns the computed page, if any.

        With ``keep_body``, the page's own blocks are kept in ``bodies`` for ``story_around``.
        """
        want_page, want_data = self.story_keys(story.slug, story.digest)
        if not (want_page or want_data):
            return page
        page = page or story_page(story, self.publishers)
        folder = f"{story.slug}/"
        canonical = self.canonical(folder)
        if want_page:
            ld = article_ld(page, self.site, canonical)
            key = self.body_key(story.digest) if keep_body else None
            blocks: dict[str, str] | None = {} if key is not None else None
            self._render("story.html", f"{folder}index.html", keep=blocks, root="../", canonical=canonical, page=page, facts=story.facts, ld=ld)
            if key is not None and blocks and f"{folder}index.html" in self.out:
                self.bodies[story.slug] = (key, body_data(blocks, ld))
        if want_data:
            self.out[f"{folder}facts.json"] = facts_json(page, self.publishers, canonical)
        return page

    def lists(self, stories: list[Listed], fragments: Mapping[FragmentKey, str]) -> None:
        """Every output besides the stories' own: static files, lists, feed, sitemap, 404 and robots.txt."""
        site = self.site
        for out, data in self.static.values():
            if self.needs(out, digest(data)):
                self.out[out] = data
        listed = sorted(stories, key=lambda s: s.order)
        context = self.fragment_context

        # The cards and story lists of a page are put together only when its key says it must be
        # rendered: a save that changes one story's text leaves every list page as it is.
        def cards(group: list[Listed], which: int) -> tuple[Later, bytes]:
            # A missing fragment is one whose template failed, and then the build fails anyway.
            # A saved state holds them as plain text: made markup here, for the pages rendered only.
            shown = Later(lambda: Cards([_markup(fragments.get((context, which, s.key), _NO_CARD)) for s in group]))
            # Every key is a 16-byte digest, so joined they are unambiguous: one digest, not one per story.
            return shown, digest(bytes([which]), b"".join(map(_KEY, group)))

        def pairs(group: list[Listed]) -> Later:
            return Later(lambda: [(s, s.modified) for s in group])

        home, home_key = cards(listed, 0)
        home_ld = Later(functools.partial(page_ld, "WebSite", site.title, site.description, self.canonical(""), site))
        self.page("index.html", "", home_key, stories=pairs(listed), cards=home, ld=home_ld)
        topics: dict[str, list[Listed]] = defaultdict(list)
        cited_by: dict[str, list[Listed]] = defaultdict(list)
        for s in listed:
            for topic in s.topic_names:
                topics[topic].append(s)
            for pid in s.cites:
                cited_by[pid].append(s)
        for topic in sorted(topics):
            folder = f"topics/{topic}/"
            group, key = cards(topics[topic], 1)
            ld = Later(functools.partial(page_ld, "CollectionPage", f"Topic: {topic}", f"Explainers about {topic}", self.canonical(folder), site))
            self.page("topic.html", folder, digest(topic.encode(), key), topic=topic, stories=pairs(topics[topic]), cards=group, ld=ld)
        # Keyed on every listed story, not just the counts: the template is given the stories.
        topics_key = digest(*(part for t in sorted(topics) for part in (t.encode(), b"".join(map(_KEY, topics[t])))))
        self.page("topics.html", "topics/", topics_key, topics=Later(lambda: [(t, [(s, s.modified) for s in topics[t]]) for t in sorted(topics)]),
                  ld=page_ld("CollectionPage", "Topics", "Every topic of the site", self.canonical("topics/"), site))
        cited = sorted((self.publishers[p] for p in cited_by), key=lambda p: (p.name.casefold(), p.id))
        cited_counts = [(p, len(cited_by[p.id])) for p in cited]
        self.page("publishers.html", "sources/", key_of(tuple((p.id, n) for p, n in cited_counts)), cited=cited_counts,
                  ld=page_ld("CollectionPage", "Sources", "Every publisher the site cites", self.canonical("sources/"), site))
        for p in cited:
            folder = f"sources/{p.id}/"
            group, key = cards(cited_by[p.id], 1)
            ld = Later(functools.partial(page_ld, "CollectionPage", p.name, f"Explainers citing {p.name}", self.canonical(folder), site))
            self.page("publisher.html", folder, digest(p.id.encode(), key), publisher=p, stories=pairs(cited_by[p.id]), cards=group, ld=ld)
        self.page("404.html", "404.html", b"", root=_path_of(self.base), root_path=_path_of(self.base),
                  ld=page_ld("WebPage", "Page not found", site.description, self.canonical("404.html"), site))
        # Compare instants, never strings: offsets make string order wrong.
        # The first written wins a tie, as in pages.latest.
        newest = max(listed, key=lambda s: s.modified_at).modified if listed else None
        updated = newest.rfc3339() if newest else EPOCH
        entries, entries_key = cards(listed, 2)
        feed_key = digest(updated.encode(), entries_key)
        self.render("feed.xml", "feed.xml", feed_key, base=self.base, stories=pairs(listed), entries=entries, updated=updated)
        pages: list[tuple[str, str | None]] = [("", newest.text if newest else None)]
        pages += [(f"{s.slug}/", s.modified.text) for s in listed]
        pages += [(f"topics/{t}/", None) for t in sorted(topics)] + [("topics/", None), ("sources/", None)]
        pages += [(f"sources/{p.id}/", None) for p in cited]
        self.render("sitemap.xml", "sitemap.xml", key_of(tuple(pages)), base=self.base, pages=pages)
        robots = f"User-agent: *\nAllow: /\n\nSitemap: {self.base}sitemap.xml\n".encode()
        if self.needs("robots.txt", digest(robots)):
            self.out["robots.txt"] = robots


def _markup(text: str) -> Markup:
    """A rendered fragment as markup (it may be kept as plain text)."""
    return text if type(text) is Markup else Markup(text)


def _path_of(base: str) -> str:
    """The path part of the base URL: where 404.html's absolute links start."""
    return urlsplit(base).path or "/"
