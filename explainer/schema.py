"""Convert strict YAML nodes into the typed model, checking kinds and keys against ``model.py``.

Every scalar arrives as the author wrote it; here each field's kind decides how it is read. Text
stays text: a plain ``no`` or ``1.10`` where text is wanted is an error that suggests quotes, never
a silently converted value.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import re
from collections.abc import Callable, Mapping
from typing import Any, TypeVar
from urllib.parse import urlsplit

from .diagnostics import Place, Report
from .model import SLUG_PATTERN, Ref, Stamp
from .yamlread import YDoc, YMap, YNode, YScalar, YSeq, describe

T = TypeVar("T")

NAME_MAX = 64
NAME_RULE = f"use lower-case letters, digits and single hyphens, at most {NAME_MAX} characters"
_SLUG = re.compile(SLUG_PATTERN)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$")
_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$")
_YAML11_KINDS = {
    "tag:yaml.org,2002:bool": "a boolean",
    "tag:yaml.org,2002:int": "a number",
    "tag:yaml.org,2002:float": "a number",
    "tag:yaml.org,2002:timestamp": "a date",
    "tag:yaml.org,2002:null": "an empty value",
}
_COMMENT_AFTER = re.compile(r"^[ \t]+#")


def suggest(word: str, known: list[str] | tuple[str, ...]) -> str:
    """A hint naming the nearest known word, or listing the known words when none is near."""
    import difflib  # only when there is a problem to report

    near = difflib.get_close_matches(word, list(known), n=1, cutoff=0.6)
    if near:
        return f"did you mean '{near[0]}'?"
    return "known: " + ", ".join(sorted(known))


def is_name(value: str) -> bool:
    """True for a valid slug, topic, publisher id, source key or fact id."""
    return len(value) <= NAME_MAX and _SLUG.match(value) is not None


@functools.cache
def _yaml11_tag() -> Callable[[str], str]:
    """PyYAML's YAML 1.1 resolver for plain scalars, made on first use (a parse has imported PyYAML by then)."""
    import yaml

    resolver = yaml.resolver.Resolver()
    return lambda value: resolver.resolve(yaml.ScalarNode, value, (True, False))  # type: ignore[no-untyped-call]


def yaml11_kind(node: YScalar) -> str | None:
    """What YAML 1.1 would turn a plain scalar into, or None when it stays text."""
    if not node.plain:
        return None
    # Of YAML 1.1's implicit kinds only a date-time may hold a space, and it starts with a digit:
    # a sentence needs no trip through the resolver's patterns (a story has dozens).
    if " " in node.value and not node.value[:1].isdigit():
        return None
    tag = _yaml11_tag()(node.value)
    return _YAML11_KINDS.get(tag)


def parse_stamp(value: str) -> Stamp | None:
    """Read ``YYYY-MM-DD`` or an ISO 8601 date-time with an offset or Z; None when invalid."""
    try:
        if _DATE.match(value):
            return Stamp(value, dt.date.fromisoformat(value), None)
        if _DATETIME.match(value):
            instant = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
            return Stamp(value, instant.date(), instant)
    except ValueError:
        return None
    return None


def is_web_url(value: str) -> bool:
    """True for an absolute http or https URL with a host and no spaces."""
    if any(c.isspace() for c in value):
        return False
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname) and value.split(":", 1)[0] in ("http", "https")


# Characters a URL may hold as written (RFC 3986 unreserved, reserved and percent signs): anything
# else (quotes, angle brackets, backslashes, spaces) has no business in an address.
_URL_CHARS = re.compile(r"^[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]*$")


def is_base_url(value: str) -> bool:
    """True for an address a site can be published under: absolute http(s), no query, fragment or odd characters."""
    if not is_web_url(value) or not _URL_CHARS.match(value) or "'" in value:
        return False
    parts = urlsplit(value)
    return not parts.query and not parts.fragment and "?" not in value and "#" not in value


class Converter:
    """Reads one YAML file's nodes into model objects, reporting every problem it meets."""

    def __init__(self, doc: YDoc, report: Report) -> None:
        self.doc = doc
        self.report = report

    def error(self, pos: Place, message: str) -> None:
        """Record an error in this file."""
        self.report.error(pos, message)

    def expect_map(self, node: YNode | None, what: str) -> YMap | None:
        """The node as a mapping, or None after reporting what was found instead."""
        if isinstance(node, YMap):
            return node
        if node is not None:
            self.error(node.pos, f"{what} must be a mapping, not {describe(node)}")
        return None

    def object(self, cls: type[T], node: YNode, what: str, **fixed: Any) -> T | None:
        """Build a dataclass from a mapping node, field by field, per its metadata.

        Invalid or missing fields keep their defaults: their problems are reported, and the partial
        object still takes part in cross-reference checks, so one typo does not cascade.
        """
        mapping = self.expect_map(node, what)
        if mapping is None:
            return None
        fields = _fields_of(cls)  # type: ignore[arg-type]  # a class is hashable; mypy cannot tell for type[T]
        values: dict[str, Any] = dict(fixed)
        where: dict[str, Place] = {}
        for key, value in mapping.items:
            f = fields.get(key.value)
            if f is None:
                self.error(key.pos, f"unknown key '{key.value}' in {what} ({suggest(key.value, list(fields))})")
                continue
            where[key.value] = value.pos
            converted = self.value(f.metadata, value, key.value)
            if converted is not _INVALID:
                values[key.value] = converted
        for name, f in fields.items():
            if f.metadata["required"] and name not in where:
                self.error(mapping.pos, f"{what} is missing the required key '{name}'")
        make: Any = cls  # every model class takes pos and where (see model.Located)
        result: T = make(pos=mapping.pos, where=where, **values)
        return result

    def value(self, meta: Mapping[str, Any], node: YNode, name: str) -> Any:
        """Convert one field's value per its kind; _INVALID after reporting a problem."""
        kind = meta["kind"]
        if kind == "object":
            result = self.object(meta["of"], node, f"'{name}'")
            return _INVALID if result is None else result
        if kind == "list":
            return self.objects(meta, node, name)
        if kind == "mapping":
            return self.keyed(meta, node, name)
        if kind in ("refs", "slugs"):
            return self.refs(meta, node, name)
        scalar = self.scalar(node, name)
        if scalar is None:
            return _INVALID
        return self.read_scalar(kind, meta, scalar, name)

    def scalar(self, node: YNode, name: str) -> YScalar | None:
        """The node as a scalar with a value, or None after reporting."""
        if not isinstance(node, YScalar):
            self.error(node.pos, f"'{name}' must be a single value, not {describe(node)}")
            return None
        if node.plain and node.value in ("", "~", "null", "Null", "NULL"):
            if node.value:
                self.error(node.pos, f"'{name}' has no value: YAML reads {node.value} as empty; put it in quotes if you mean the text")
            else:
                self.error(node.pos, f"'{name}' has no value")
            return None
        return node

    def read_scalar(self, kind: str, meta: Mapping[str, Any], node: YScalar, name: str) -> Any:
        """Read a scalar as text, URL, date, boolean, enum, name or reference."""
        value = node.value
        if kind == "bool":
            if node.plain and value in ("true", "false"):
                return value == "true"
            self.error(node.pos, f"'{name}' must be true or false, not '{value}'")
            return _INVALID
        if kind == "date":
            stamp = parse_stamp(value)
            if stamp is None:
                self.error(node.pos, f"'{value}' is not a valid date: write YYYY-MM-DD or a date-time with an offset, such as 2025-11-27T14:30:00Z")
                return _INVALID
            return stamp
        kind_yaml = yaml11_kind(node)
        if kind_yaml is not None:
            quoted = value.replace('"', '\\"')
            self.error(node.pos, f"'{name}' must be text, but YAML reads {value} as {kind_yaml}; put it in quotes: \"{quoted}\"")
            return _INVALID
        if kind == "text":
            return self.text(meta, node, name)
        if kind == "base_url" and is_web_url(value):
            if not is_base_url(value):
                self.error(node.pos, f"'{value}' cannot be a base_url: write an absolute http(s) address without query, fragment or quotes")
                return _INVALID
            return value
        if kind in ("url", "base_url"):
            if not is_web_url(value):
                self.error(node.pos, f"'{value}' is not an absolute http(s) URL")
                return _INVALID
            return value
        if kind == "language":
            if not _LANGUAGE.match(value):
                self.error(node.pos, f"'{value}' is not a BCP 47 language tag such as en or en-GB")
                return _INVALID
            return value
        if kind == "enum":
            values = meta["values"]
            if value not in values:
                self.error(node.pos, f"'{value}' is not a valid {name} ({suggest(value, values)})")
                return _INVALID
            return value
        if kind in ("slug", "ref"):
            if not is_name(value):
                self.error(node.pos, f"'{value}' is not a valid name: {NAME_RULE}")
                return _INVALID
            return value if kind == "slug" else Ref(value, node.pos)
        raise AssertionError(f"unknown field kind {kind}")

    def text(self, meta: Mapping[str, Any], node: YScalar, name: str) -> Any:
        """Check a text value: not empty, within its length, and not cut short by a ` #` comment."""
        value = node.value
        if meta["required"] and not value.strip():
            self.error(node.pos, f"'{name}' must not be empty")
            return _INVALID
        limit = meta.get("max")
        if limit is not None and len(value) > limit:
            self.error(node.pos, f"'{name}' is {len(value)} characters long; at most {limit} are allowed")
            return _INVALID
        if node.plain and node.end_line < len(self.doc.lines):
            rest = self.doc.lines[node.end_line][node.end_col:]
            if _COMMENT_AFTER.match(rest):
                self.report.warning(
                    node.pos, f"the text of '{name}' ends before ' #': YAML drops the rest as a comment; put the whole text in quotes"
                )
        return value

    def refs(self, meta: Mapping[str, Any], node: YNode, name: str) -> Any:
        """A list of names (references or topics)."""
        if not isinstance(node, YSeq):
            self.error(node.pos, f"'{name}' must be a list, not {describe(node)}")
            return _INVALID
        refs: list[Ref] = []
        for item in node.items:
            scalar = self.scalar(item, name)
            ref = None if scalar is None else self.read_scalar("ref", meta, scalar, name)
            if isinstance(ref, Ref):
                refs.append(ref)
        self.count(meta, node, name, len(node.items))
        return tuple(refs)

    def count(self, meta: Mapping[str, Any], node: YNode, name: str, n: int) -> bool:
        """Check a list's length against its field's min and max."""
        low, high = meta.get("min"), meta.get("max")
        if low is not None and n < low:
            self.error(node.pos, f"'{name}' needs at least {low} entr{'y' if low == 1 else 'ies'}")
            return False
        if high is not None and n > high:
            self.error(node.pos, f"'{name}' has {n} entries; at most {high} are allowed")
            return False
        return True

    def objects(self, meta: Mapping[str, Any], node: YNode, name: str) -> Any:
        """A list of objects of one kind."""
        if not isinstance(node, YSeq):
            self.error(node.pos, f"'{name}' must be a list, not {describe(node)}")
            return _INVALID
        items = [self.object(meta["of"], item, f"an entry of '{name}'") for item in node.items]
        self.count(meta, node, name, len(items))
        return tuple(i for i in items if i is not None)

    def keyed(self, meta: Mapping[str, Any], node: YNode, name: str) -> Any:
        """A mapping from names to objects of one kind (the name goes in the object's ``key``)."""
        mapping = self.expect_map(node, f"'{name}'")
        if mapping is None:
            return _INVALID
        result: dict[str, Any] = {}
        self.count(meta, mapping, name, len(mapping.items))
        for key, value in mapping.items:
            if not is_name(key.value):
                self.error(key.pos, f"'{key.value}' is not a valid key: {NAME_RULE}")
            obj = self.object(meta["of"], value, f"{name[:-1] if name.endswith('s') else name} '{key.value}'", key=key.value)
            if obj is not None:
                result[key.value] = obj
        return result


@functools.cache
def _fields_of(cls: type) -> dict[str, dataclasses.Field[Any]]:
    """A model class's fields that are read from YAML (those with a kind), by name."""
    return {f.name: f for f in dataclasses.fields(cls) if f.metadata.get("kind")}


class _Invalid:
    """Marks a value that could not be converted (its problem is already reported)."""


_INVALID = _Invalid()
