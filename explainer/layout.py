"""A page as its own blocks inside a layout, so a layout edit re-renders only the layout.

A story page is ``story.html``'s blocks (its main block is nearly all of the page's bytes and of
the time to render it) placed in ``base.html``. When a template's blocks cannot depend on its
layout, a build keeps them as rendered; after an edit that leaves the template and everything its
blocks reach alone (the layout, a stylesheet's name aside), the page is put together again from
them, and the bytes are the same as a full render's because both go through the same layout code.

Whether the blocks can depend on the layout is decided from the templates' syntax, and any doubt
means no reuse: a block calling ``super()`` or ``self``, a name the page is not given, code outside
the page's blocks, a layout that defines names (``set``, ``import``, ``macro``) that could shadow
the page's, includes a template (which would see the page's names), switches autoescaping, has a
``scoped`` block or uses a name it would not be given again, or a template named by an expression.
"""

from __future__ import annotations

import io
import pickle
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from .files import compress, decompress, digest

if TYPE_CHECKING:
    import jinja2


def body_data(blocks: dict[str, str], ld: str) -> bytes:
    """A story page's kept blocks and JSON-LD as the page store keeps them."""
    # Pickled plain strings (no escaping to do, unlike JSON), compressed quickly: a page is
    # mostly HTML, and every byte written costs on a slow disk.
    return compress(pickle.dumps((dict(blocks), str(ld)), protocol=pickle.HIGHEST_PROTOCOL))


class _PlainUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError("kept blocks hold only text")  # no class, ever: nothing to call


def body_of(data: bytes) -> tuple[dict[str, str], str] | None:
    """The blocks and JSON-LD of ``body_data``; None when the data is not that."""
    try:
        found = _PlainUnpickler(io.BytesIO(decompress(data))).load()
    except Exception:  # any damage at all: truncated, garbage, a class named
        return None
    blocks, ld = found if isinstance(found, tuple) and len(found) == 2 else (None, None)
    if not isinstance(blocks, dict) or not isinstance(ld, str) or not all(isinstance(k, str) and isinstance(v, str) for k, v in blocks.items()):
        return None
    return blocks, ld


class _Missing(Exception):
    """The layout asked for a block that was not kept: the page must be rendered whole."""


class TemplateFacts:
    """What the analyses learnt from each template's own source, kept between builds by its digest.

    An edit of one template then parses only that template: a layout edit used to parse
    ``story.html`` again and find its names, two thirds of the analyses' time. Each fact is
    plain data (tuples, strings, sets), learnt from one template's syntax tree alone.
    """

    def __init__(self, known: Mapping[tuple[str, str], tuple[bytes, Any]] | None = None) -> None:
        self.known = dict(known or {})  # (kind, template name) -> (digest of its source, facts)
        self.used: dict[tuple[str, str], tuple[bytes, Any]] = {}  # the facts this build looked up or learnt

    def of(self, env: jinja2.Environment, name: str, kind: str, learn: Callable[[Any], Any]) -> tuple[str, Any]:
        """A template's source, and the facts ``learn`` finds in its syntax tree (parsed only when not known for this source)."""
        source = env.loader.get_source(env, name)[0] if env.loader is not None else None
        if source is None:
            raise LookupError(name)
        key, version = (kind, name), digest(source.encode("utf-8", "surrogatepass"))
        found = self.used.get(key) or self.known.get(key)
        if found is None or found[0] != version:
            found = (version, learn(env.parse(source)))
        self.used[key] = found
        return source, found[1]

    def kept(self) -> dict[tuple[str, str], tuple[bytes, Any]]:
        """What the next build may reuse: every template's latest facts."""
        return {**self.known, **self.used}


def _page_facts(tree: Any) -> tuple[str | None, bool, frozenset[str], bool, tuple[str | None, ...]]:
    """Of a page's template: its layout (None: not one constant), whether it names self or super,
    the names it does not define, whether its code outside blocks is harmless, what it imports."""
    from jinja2 import meta, nodes

    extends = list(tree.find_all(nodes.Extends))
    layout = extends[0].template.value if len(extends) == 1 and isinstance(extends[0].template, nodes.Const) else None
    self_or_super = any(n.name in ("self", "super") for n in tree.find_all(nodes.Name))
    # Code outside the blocks runs in every render, around kept blocks too, where the page's
    # own names are not given: only the layout's name, the blocks, plain text and imports
    # that cannot see the page may be there.
    harmless = True
    for node in tree.body:
        if isinstance(node, (nodes.Import, nodes.FromImport)) and not node.with_context:
            continue
        if isinstance(node, nodes.Output) and all(isinstance(part, nodes.TemplateData) for part in node.nodes):
            continue
        if not isinstance(node, (nodes.Extends, nodes.Block)):
            harmless = False
    imported = tuple(n.template.value if isinstance(n.template, nodes.Const) else None
                     for n in tree.find_all((nodes.Import, nodes.FromImport, nodes.Include)))
    return layout, self_or_super, frozenset(meta.find_undeclared_variables(tree)), harmless, imported


def _layout_facts(tree: Any) -> tuple[bool, frozenset[str], bool, str | None]:
    """Of a layout: whether it could change its page's blocks, the names it does not define,
    whether its own layout is one constant or none, and that layout."""
    from jinja2 import meta, nodes

    # Names the layout defines could shadow the page's; an included template sees every name
    # the page is given; an autoescape switch changes how the blocks' own code escapes; a
    # scoped block's output may differ at each use.
    forbidden = (nodes.Assign, nodes.AssignBlock, nodes.Import, nodes.FromImport, nodes.Macro, nodes.Include,
                 nodes.ScopedEvalContextModifier, nodes.EvalContextModifier)
    meddles = any(tree.find_all(forbidden)) or any(block.scoped for block in tree.find_all(nodes.Block))
    parents = list(tree.find_all(nodes.Extends))
    plain = not (len(parents) > 1 or (parents and not isinstance(parents[0].template, nodes.Const)))
    parent = parents[0].template.value if parents and plain else None
    return meddles, frozenset(meta.find_undeclared_variables(tree)), plain, parent


def _references(tree: Any) -> tuple[str | None, ...]:
    """The templates a template imports, includes or extends (None for one named by an expression)."""
    from jinja2 import meta

    return tuple(meta.find_referenced_templates(tree))


def block_dependencies(
    env: jinja2.Environment, name: str, given: set[str], layout_given: set[str], facts: TemplateFacts | None = None
) -> bytes | None:
    """A digest of every template the blocks of ``name`` can reach, or None when they may depend on its layout.

    ``given`` names what the page is rendered with, ``layout_given`` what the layout would be
    given again without the page. ``facts`` keeps what each template's source showed, for the next build.
    """
    facts = facts if facts is not None else TemplateFacts()
    try:
        source, (layout, self_or_super, undeclared, harmless, imported) = facts.of(env, name, "page", _page_facts)
        if layout is None or self_or_super or not harmless or not undeclared <= given | set(env.globals):
            return None
        chain = {name}
        while layout is not None:
            if layout in chain:  # a loop, which the full render reports
                return None
            chain.add(layout)
            _, (meddles, undeclared, plain, parent) = facts.of(env, layout, "layout", _layout_facts)
            if meddles or not plain or not undeclared <= layout_given | {"self"} | set(env.globals):
                return None
            layout = parent
        # Everything the template's own code reaches, besides its layout: imports and includes, and theirs.
        reached = templates_reached(env, list(imported), facts)
        if reached is None:
            return None
    except Exception:  # a template that cannot be read or parsed: the full render reports it
        return None
    return digest(name.encode(), source.encode(), reached)


def templates_reached(env: jinja2.Environment, names: list[str | None], facts: TemplateFacts | None = None) -> bytes | None:
    """A digest of some templates and of every template they import, include or extend, and so on.

    None when one is named by an expression (None here), or cannot be read or parsed.
    """
    facts = facts if facts is not None else TemplateFacts()
    parts: list[bytes] = []
    todo, seen = list(names), set()
    try:
        while todo:
            name = todo.pop()
            if not isinstance(name, str):
                return None
            if name in seen:
                continue
            seen.add(name)
            source, references = facts.of(env, name, "references", _references)
            parts += [name.encode(), source.encode()]
            todo += list(references)
    except Exception:
        return None
    return digest(*parts)


def render_keeping_blocks(template: jinja2.Template, context: Mapping[str, Any]) -> tuple[str, dict[str, str]]:
    """Render a page, and give back the text of each of its own blocks that the layout used (none if one varied)."""
    ctx = template.new_context(dict(context))
    kept: dict[str, str] = {}
    varied: set[str] = set()
    for name in template.blocks:
        def keeping(c: Any, block: Any = ctx.blocks[name][0], name: str = name) -> Iterator[str]:
            text = "".join(block(c))
            if kept.setdefault(name, text) != text:
                varied.add(name)  # not one text to keep: used where it sees different names
            yield text

        ctx.blocks[name][0] = keeping
    try:
        text = template.environment.concat(template.root_render_func(ctx))
        return text, {} if varied else kept
    except Exception:
        template.environment.handle_exception()
        raise  # not reached: handle_exception raises, with the traceback pointing at template lines


def render_around_blocks(template: jinja2.Template, context: Mapping[str, Any], kept: Mapping[str, str]) -> str | None:
    """Render a page's layout around its kept blocks; None when the layout wants one that was not kept."""
    ctx = template.new_context(dict(context))
    for name in template.blocks:
        def again(c: Any, text: str | None = kept.get(name)) -> Iterator[str]:
            if text is None:
                raise _Missing
            yield text

        ctx.blocks[name][0] = again
    try:
        return template.environment.concat(template.root_render_func(ctx))
    except _Missing:
        return None
    except Exception:
        template.environment.handle_exception()
        raise
