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
from collections.abc import Iterator, Mapping
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


def _parse(env: jinja2.Environment, name: str) -> Any:
    source = env.loader.get_source(env, name)[0] if env.loader is not None else None
    if source is None:
        raise LookupError(name)
    return source, env.parse(source)


def block_dependencies(env: jinja2.Environment, name: str, given: set[str], layout_given: set[str]) -> bytes | None:
    """A digest of every template the blocks of ``name`` can reach, or None when they may depend on its layout.

    ``given`` names what the page is rendered with, ``layout_given`` what the layout would be
    given again without the page.
    """
    from jinja2 import meta, nodes

    try:
        source, tree = _parse(env, name)
        extends = list(tree.find_all(nodes.Extends))
        if len(extends) != 1 or not isinstance(extends[0].template, nodes.Const):
            return None
        if any(n.name in ("self", "super") for n in tree.find_all(nodes.Name)):
            return None
        if not meta.find_undeclared_variables(tree) <= given | set(env.globals):
            return None
        # Code outside the blocks runs in every render, around kept blocks too, where the page's
        # own names are not given: only the layout's name, the blocks, plain text and imports
        # that cannot see the page may be there.
        for node in tree.body:
            if isinstance(node, (nodes.Import, nodes.FromImport)) and not node.with_context:
                continue
            if isinstance(node, nodes.Output) and all(isinstance(part, nodes.TemplateData) for part in node.nodes):
                continue
            if not isinstance(node, (nodes.Extends, nodes.Block)):
                return None
        layout: str | None = extends[0].template.value
        chain = {name}
        while layout is not None:
            if layout in chain:  # a loop, which the full render reports
                return None
            chain.add(layout)
            _, parent = _parse(env, layout)
            # Names the layout defines could shadow the page's; an included template sees every name
            # the page is given; an autoescape switch changes how the blocks' own code escapes.
            forbidden = (nodes.Assign, nodes.AssignBlock, nodes.Import, nodes.FromImport, nodes.Macro, nodes.Include,
                         nodes.ScopedEvalContextModifier, nodes.EvalContextModifier)
            if any(parent.find_all(forbidden)):
                return None
            if any(block.scoped for block in parent.find_all(nodes.Block)):  # its output may differ at each use
                return None
            if not meta.find_undeclared_variables(parent) <= layout_given | {"self"} | set(env.globals):
                return None
            parents = list(parent.find_all(nodes.Extends))
            if len(parents) > 1 or (parents and not isinstance(parents[0].template, nodes.Const)):
                return None
            layout = parents[0].template.value if parents else None
        # Everything the template's own code reaches, besides its layout: imports and includes, and theirs.
        imported = [n.template.value if isinstance(n.template, nodes.Const) else None
                    for n in tree.find_all((nodes.Import, nodes.FromImport, nodes.Include))]
        reached = templates_reached(env, imported)
        if reached is None:
            return None
    except Exception:  # a template that cannot be read or parsed: the full render reports it
        return None
    return digest(name.encode(), source.encode(), reached)


def templates_reached(env: jinja2.Environment, names: list[str | None]) -> bytes | None:
    """A digest of some templates and of every template they import, include or extend, and so on.

    None when one is named by an expression (None here), or cannot be read or parsed.
    """
    from jinja2 import meta

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
            source, tree = _parse(env, name)
            parts += [name.encode(), source.encode()]
            todo += list(meta.find_referenced_templates(tree))
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
