"""The story's narrative: markdown parsed once, checked with located diagnostics, split into sections.

One configured parser: CommonMark with GFM tables and strikethrough. Raw HTML is recognised (so it
can be reported at its place) and rendered as escaped text, never as markup.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any

from .citations import citations_plugin, escape_html, split_names
from .diagnostics import Place, Pos, Report
from .links import link_problem
from .yamlread import split_lines

if TYPE_CHECKING:  # markdown-it is imported when the first narrative is parsed: a rebuild with nothing to parse never pays for it
    from markdown_it import MarkdownIt
    from markdown_it.token import Token
    from markdown_it.utils import EnvType, OptionsDict

WHY_TITLES = ("why this matters", "why it matters")


@dataclass(frozen=True)
class CitedName:
    """One name a citation in the narrative uses, with its place."""

    kind: str  # "source" or "fact"
    name: str
    pos: Place


@dataclass
class Section:
    """A part of the narrative: the lede (no title) or a ``##`` section."""

    title: str
    anchor: str
    tokens: list[Token]
    is_why: bool = False


@dataclass
class Narrative:
    """A parsed narrative, ready to check against the story and to render."""

    sections: list[Section] = field(default_factory=list)
    cited: list[CitedName] = field(default_factory=list)


def _render_raw_html_as_text(self: Any, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
    token = tokens[idx]
    if token.type == "html_block":
        return "<p class=\"raw-html\">" + escape_html(token.content.rstrip("\n")) + "</p>\n"
    return escape_html(token.content)


def _refuse_bad_links(self: Any, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
    # Defence in depth: the check already fails the build on such links; never emit one anyway.
    href = tokens[idx].attrGet("href")
    if isinstance(href, str) and link_problem(href):
        tokens[idx].attrSet("href", "#")
    return str(self.renderToken(tokens, idx, options, env))


def _record_offsets(md: MarkdownIt, name: str) -> None:
    """Wrap an inline rule so the tokens it makes remember their offset in the inline text."""
    original = md.inline.ruler.__rules__[md.inline.ruler.__find__(name)].fn

    def wrapped(state: Any, silent: bool) -> bool:
        start, count = state.pos, len(state.tokens)
        ok: bool = original(state, silent)
        if ok and not silent:
            for token in state.tokens[count:]:
                token.meta.setdefault("offset", start)
        return ok

    md.inline.ruler.at(name, wrapped)


@cache
def parser() -> MarkdownIt:
    """The one markdown parser of the project, made on first use."""
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": True, "linkify": False, "typographer": False})
    md.enable(["table", "strikethrough"])
    # Accept every target at parse time so a bad one becomes a link we can report at its place,
    # rather than text that silently stays in the page.
    md.validateLink = lambda url: True  # type: ignore[method-assign]
    for rule in ("link", "image", "autolink", "html_inline"):
        _record_offsets(md, rule)
    citations_plugin(md)
    md.add_render_rule("html_block", _render_raw_html_as_text)
    md.add_render_rule("html_inline", _render_raw_html_as_text)
    md.add_render_rule("link_open", _refuse_bad_links)
    return md



def slugify(text: str) -> str:
    """An anchor name for a heading: lower-case ASCII words joined by hyphens."""
    words = re.findall(r"[a-z0-9]+", text.lower())
    return "-".join(words) or "section"


class _Locator:
    """Maps tokens and offsets inside inline tokens back to lines and columns of the source file.

    Inline content has lost its block prefixes ("> ", list markers, table pipes), so each of its
    lines is found again in its source line, left to right, so that repeated text (two table cells
    alike) still gets its own column.
    """

    def __init__(self, path: str, text: str) -> None:
        self.path = path
        self.lines = split_lines(text)
        self.cursor: dict[int, int] = {}  # per source line: where the last located content ended
        self.starts: dict[int, list[int]] = {}  # per inline token: the column where each of its lines starts
        self.breaks: dict[int, list[int]] = {}  # per inline token: where each line begins in its content

    def _find(self, index: int, content_line: str) -> int:
        src = self.lines[index] if index < len(self.lines) else ""
        start = src.find(content_line, self.cursor.get(index, 0)) if content_line else -1
        if start < 0:
            return len(src) - len(src.lstrip())
        self.cursor[index] = start + len(content_line)
        return start

    def block(self, token: Token, text: str = "") -> Place:
        """Where a block token begins: its text's first line in its first source line."""
        index = token.map[0] if token.map else 0
        first = text.split("\n", 1)[0].strip()
        src = self.lines[index] if index < len(self.lines) else ""
        start = src.find(first) if first else -1
        if start < 0:
            start = len(src) - len(src.lstrip())
        return (self.path, index + 1, start + 1)

    def inline(self, parent: Token, offset: int) -> Place:
        """The place of an offset inside an inline token's content."""
        content = parent.content
        first = parent.map[0] if parent.map else 0
        starts = self.starts.get(id(parent))
        if starts is None:
            starts = [self._find(first + i, line) for i, line in enumerate(content.split("\n"))]
            self.starts[id(parent)] = starts
        breaks = self.breaks.get(id(parent))
        if breaks is None:  # offsets of the content's line starts, once per token: many places stay cheap
            breaks = [0]
            found = content.find("\n")
            while found >= 0:
                breaks.append(found + 1)
                found = content.find("\n", found + 1)
            self.breaks[id(parent)] = breaks
        line_in = bisect.bisect_right(breaks, offset) - 1
        col_in = offset - breaks[line_in]
        return (self.path, first + line_in + 1, starts[line_in] + col_in + 1)


def parse(text: str, path: str, report: Report) -> Narrative:
    """Parse a narrative and report what the format forbids or warns about, each at its place."""
    tokens = parser().parse(text, {})
    where = _Locator(path, text)
    narrative = Narrative()
    anchors: set[str] = set()
    current = Section("", "", [])
    narrative.sections.append(current)
    for i, token in enumerate(tokens):
        if token.type == "heading_open":
            if token.tag == "h1":
                message = "a '#' heading in the narrative: the headline is the page's only top heading; use '##'"
                report.warning(where.block(token, token.markup), message)
            if token.tag in ("h1", "h2"):
                token.tag = "h2"
                title = tokens[i + 1].content.strip()
                anchor = _anchor(title, anchors)
                anchors.add(anchor)
                token.attrSet("id", anchor)
                current = Section(title, anchor, [], is_why=_plain(title).lower() in WHY_TITLES)
                narrative.sections.append(current)
        elif token.type == "heading_close" and token.tag == "h1":
            token.tag = "h2"
        elif token.type == "html_block":
            report.warning(where.block(token, token.content), "raw HTML is not rendered; it is shown as text")
        elif token.type == "inline":
            _check_inline(token, where, report, narrative)
        if token.type == "paragraph_open" and not current.is_why:
            inline = tokens[i + 1]
            if not any(c.type == "citation" for c in inline.children or []):
                report.warning(where.inline(inline, 0), "this paragraph cites nothing; add a citation such as [@source] or [#fact-id]")
        current.tokens.append(token)
    if not narrative.sections[0].tokens:
        narrative.sections.pop(0)
    if not any(s.is_why for s in narrative.sections):
        report.error(Pos(path), "the narrative has no '## Why this matters' section")
    return narrative


def _anchor(title: str, taken: set[str]) -> str:
    """A heading's id: never one the page uses for its own blocks, sources, facts or citations."""
    anchor = slugify(title)
    if anchor in RESERVED_ANCHORS or anchor.startswith(RESERVED_PREFIXES) or anchor.endswith("-title"):
        anchor = "section-" + anchor
    unique, n = anchor, 1
    while unique in taken:
        n += 1
        unique = f"{anchor}-{n}"
    return unique


def _plain(title: str) -> str:
    return re.sub(r"[*_`]", "", title).strip().rstrip(".:?!")


def _check_inline(inline: Token, where: _Locator, report: Report, narrative: Narrative) -> None:
    """Report raw HTML and refused links, and collect the names citations use."""
    link_depth = 0
    for child in inline.children or []:
        offset = child.meta.get("offset", 0) if child.meta else 0
        if child.type == "link_open":
            link_depth += 1
        elif child.type == "link_close":
            link_depth -= 1
        elif child.type == "citation" and link_depth:
            # Markers are links themselves, and a link inside a link is not HTML.
            report.error(where.inline(inline, offset), "a citation inside a link's text is not allowed; cite after the link")
            continue
        if child.type == "html_inline":
            report.warning(where.inline(inline, offset), "raw HTML is not rendered; it is shown as text")
        elif child.type in ("link_open", "image"):
            target = child.attrGet("href" if child.type == "link_open" else "src")
            problem = link_problem(str(target or ""))
            if problem:
                report.error(where.inline(inline, offset), problem)
            if child.type == "image" and any(c.type == "citation" for c in child.children or []):
                # An image's description becomes its alt text, where a marker cannot live.
                report.error(where.inline(inline, offset), "a citation inside an image's description is not allowed; cite after the image")
        elif child.type == "citation":
            kind, body = child.meta["kind"], child.meta["body"]
            for name, at, problem in split_names(kind, body):
                pos = where.inline(inline, offset + 1 + at)
                if problem:
                    report.error(pos, problem)
                else:
                    narrative.cited.append(CitedName(kind, name, pos))


# Anchors the explainer page uses for its own blocks; narrative headings never take them.
RESERVED_PREFIXES = ("source-", "fact-", "cite-", "section-")
RESERVED_ANCHORS = frozenset(
    {"main", "top", "takeaways", "narrative", "quotes", "unknowns", "timeline", "facts", "sources", "corrections", "why"}
)


def render_section(section: Section, env: dict[str, Any]) -> str:
    """The HTML of one section's tokens; ``env['cite']`` renders the citation markers."""
    md = parser()
    return str(md.renderer.render(section.tokens, md.options, env))
