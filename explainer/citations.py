"""The ``[@key; @key2]`` and ``[#fact-id]`` citation syntax as a markdown-it plugin.

The inline rule only recognises citations and records what they name and where; numbering and the
HTML of the markers belong to the page (``pages.py``), which passes a renderer through ``env``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported with the parser, on first use (narrative.parser)
    from markdown_it import MarkdownIt
    from markdown_it.rules_inline import StateInline
    from markdown_it.token import Token
    from markdown_it.utils import EnvType, OptionsDict

# A citation is a bracket opening with @ or #, on one line, not followed by ( or [ (that would
# make it an ordinary link whose text starts with those characters). Its body is bounded (room for
# a dozen keys of the longest kind) so that a line of unclosed "[@" costs linear time, not quadratic.
_CITATION = re.compile(r"\[([@#])([^\]\n]{0,1000})\](?![(\[])")

CiteRenderer = Callable[["Token"], str]


def citations_plugin(md: MarkdownIt, *, rule_name: str = "citation") -> None:
    """Add the citation rule before links; markers render through ``env['cite']``."""

    def citation(state: StateInline, silent: bool) -> bool:
        # markdown-it scans silently only to find where a link's text ends; there a citation must
        # count as plain brackets, or the link is taken for a link nested in a link and dropped.
        if silent or state.src[state.pos] != "[":
            return False
        m = _CITATION.match(state.src, state.pos, state.posMax)
        if m is None:
            return False
        if not silent:
            token = state.push(rule_name, "", 0)
            token.meta = {"kind": "source" if m.group(1) == "@" else "fact", "body": m.group(0)[1:-1], "offset": state.pos}
            token.content = m.group(0)
        state.pos = m.end()
        return True

    md.inline.ruler.before("link", rule_name, citation)
    md.add_render_rule(rule_name, _render_citation)


def _render_citation(self: Any, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
    render: CiteRenderer | None = env.get("cite")
    if render is None:  # parsing for the check alone: show the citation as written
        return "<span class=\"cite\">" + escape_html(tokens[idx].content) + "</span>"
    return render(tokens[idx])


def escape_html(text: str) -> str:
    """Escape text for HTML content and double-quoted attributes."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def split_names(kind: str, body: str) -> list[tuple[str, int, str | None]]:
    """The names a citation's body lists, each with its offset in the body and a problem, if any.

    ``[@a; @b]`` names source keys, each behind an ``@``; ``[#id]`` names one fact. The body is
    everything between the brackets.
    """
    if kind == "fact":
        name = body[1:].strip()
        return [(name, 0, None if name else "empty fact citation: write [#fact-id]")]
    names: list[tuple[str, int, str | None]] = []
    offset = 0
    for part in body.split(";"):
        stripped = part.strip()
        at = offset + (len(part) - len(part.lstrip()))
        if not stripped.startswith("@"):
            names.append((stripped, at, f"'{stripped}' in a citation must start with @ (write [@a; @b])"))
        else:
            names.append((stripped[1:], at, None))
        offset += len(part) + 1
    return names
