"""Strict YAML: one document, no tags, anchors or aliases, every scalar kept as the author wrote it.

PyYAML's parser emits events with positions; we build our own small node tree from them instead of
using its constructor, so nothing is ever converted (``no`` stays the text "no") and hostile input
(alias bombs, very deep nesting) stops at the first offending event with little memory.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .diagnostics import Place, Pos, Report

MAX_DEPTH = 20

if TYPE_CHECKING:
    import yaml


def _import_pyyaml() -> None:
    """Import PyYAML on the first parse: a rebuild that parses nothing does not pay for it."""
    global yaml, _Scalar, _MappingStart, _SequenceStart, _MappingEnd, _SequenceEnd, _DocumentStart, _Alias
    import yaml

    _Scalar, _Alias, _DocumentStart = yaml.ScalarEvent, yaml.AliasEvent, yaml.DocumentStartEvent
    _MappingStart, _SequenceStart = yaml.MappingStartEvent, yaml.SequenceStartEvent
    _MappingEnd, _SequenceEnd = yaml.MappingEndEvent, yaml.SequenceEndEvent


# PyYAML's event classes, set on the first parse (the builder dispatches on them).
_Scalar: Any = None
_Alias: Any = None
_DocumentStart: Any = None
_MappingStart: Any = None
_SequenceStart: Any = None
_MappingEnd: Any = None
_SequenceEnd: Any = None


# Characters a YAML file must not contain: C0 and C1 controls other than tab, LF and CR, DEL,
# and lone surrogates (which can only arrive through escapes, since the file is valid UTF-8).
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
MAX_CHARACTER_ERRORS = 50
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


@dataclass(slots=True)  # made for every scalar of every file: slots make that quicker
class YScalar:
    """A scalar exactly as written; ``plain`` when it had no quotes (so YAML 1.1 would convert it)."""

    pos: Place
    value: str
    plain: bool
    end_line: int  # 0-based line and column of the scalar's end, for the ` #` check
    end_col: int


@dataclass
class YMap:
    """A mapping whose keys are scalars, in the order written."""

    pos: Place
    items: list[tuple[YScalar, YNode]] = field(default_factory=list)

    def get(self, key: str) -> YNode | None:
        """The value of a key, or None."""
        for k, v in self.items:
            if k.value == key:
                return v
        return None


@dataclass
class YSeq:
    """A sequence."""

    pos: Place
    items: list[YNode] = field(default_factory=list)


YNode = YScalar | YMap | YSeq


@dataclass
class YDoc:
    """A parsed file: its root node (None when empty or broken) and its lines for later checks."""

    path: str
    root: YNode | None
    lines: list[str]


def describe(node: YNode) -> str:
    """A short name of a node's kind for messages."""
    if isinstance(node, YMap):
        return "a mapping"
    if isinstance(node, YSeq):
        return "a list"
    return "text" if not node.plain else f"'{node.value}'"


def position_of(text: str, index: int) -> tuple[int, int]:
    """1-based line and column of a code-point index; lines end at LF, CRLF or CR."""
    line = 1
    start = 0
    for m in _LINE_BREAK.finditer(text, 0, index):
        line += 1
        start = m.end()
    return line, index - start + 1


def split_lines(text: str) -> list[str]:
    """The lines of a text, split at LF, CRLF or CR."""
    if "\r" not in text:  # nearly every file: str.split is several times quicker than the pattern
        return text.split("\n")
    return _LINE_BREAK.split(text)


def _hide_separators(text: str) -> tuple[str, dict[int, str]]:
    """Swap U+2028 and U+2029 for unused private-use characters while parsing.

    PyYAML treats them as line breaks, which would fold them out of text values and shift line
    numbers; the format says lines end at LF, CRLF or CR only and text is kept as written.
    """
    restore: dict[int, str] = {}
    for separator in ("\u2028", "\u2029"):
        if separator in text:
            stand_in = next(chr(c) for c in range(0xE000, 0xF900) if chr(c) not in text)
            text = text.replace(separator, stand_in)
            restore[ord(stand_in)] = separator
    return text, restore


def _prescan(path: str, text: str, report: Report) -> bool:
    """Report characters a YAML file must not hold, at their places; True when the text is fit to parse."""
    found = 0
    line, line_start, scanned = 1, 0, 0
    for m in _CONTROL.finditer(text):
        found += 1
        if found > MAX_CHARACTER_ERRORS:
            continue
        # Count line breaks incrementally: one pass over the file however many characters are bad.
        for br in _LINE_BREAK.finditer(text, scanned, m.start()):
            line += 1
            line_start = br.end()
        scanned = m.start()
        report.error(Pos(path, line, m.start() - line_start + 1), f"{_character(m.group())} is not allowed")
    if found > MAX_CHARACTER_ERRORS:
        report.error(Pos(path), f"{found - MAX_CHARACTER_ERRORS} more characters that are not allowed")
    return found == 0


def _character(char: str) -> str:
    kind = "character" if ord(char) >= 0xFFFE else "control character"
    return f"{kind} U+{ord(char):04X}"


MAX_TAB_ERRORS = 50
_LEADING_TAB = re.compile(r"^ *\t(?=[ \t]*\S)")


def parse(path: str, text: str, report: Report) -> YDoc:
    """Parse one YAML document strictly, reporting every problem; the root is None on failure."""
    _import_pyyaml()
    lines = split_lines(text)
    if not _prescan(path, text, report):
        return YDoc(path, None, lines)
    text, restore = _hide_separators(text)
    tab, root, failed = _parse_once(path, text, report, restore)
    if tab is None:
        return YDoc(path, None if failed else root, lines)
    # PyYAML stops at the first tab it refuses. Report it, and every later line indented with tabs
    # (a linear scan, not one parse per tab: a large file with many such lines stays quick).
    line, col = tab
    leading = not lines[line][:col].strip(" ")
    message = "tabs are not allowed for indentation; use spaces" if leading else "a tab is not allowed here; use spaces"
    report.error(Pos(path, line + 1, col + 1), message)
    reported = 1
    for index in range(line + 1, len(lines)):
        m = _LEADING_TAB.match(lines[index])
        if m and reported < MAX_TAB_ERRORS:
            report.error(Pos(path, index + 1, m.end()), "tabs are not allowed for indentation; use spaces")
            reported += 1
    return YDoc(path, None, lines)


# libyaml's parser, when PyYAML has it, gives the same events and positions as the pure-Python one
# (checked over every YAML file of the tests) about ten times faster. Its error messages differ,
# so a file it refuses is parsed again by the pure-Python parser, whose messages the tests fix.
def _parse_once(path: str, text: str, report: Report, restore: dict[int, str]) -> tuple[tuple[int, int] | None, YNode | None, bool]:
    """One parse: (where a tab stopped it, or None), the root, and whether it failed."""
    # libyaml accepts some tabs that PyYAML refuses: a file with a tab is judged by PyYAML alone, so
    # the verdict never depends on which parser is installed.
    fast_loader = getattr(yaml, "CSafeLoader", None)
    if fast_loader is not None and "\t" not in text:
        fast = Report()
        builder = _Builder(path, fast, restore)
        parser = fast_loader(text)
        try:
            # libyaml's parser asked directly, which spares yaml.parse's generator for every event.
            if builder.run(parser.get_event):
                report.extend(fast)
                if builder.root is None and not builder.failed:
                    report.error(Pos(path), "the file is empty; expected a mapping")
                return None, builder.root, builder.failed
        except yaml.YAMLError:
            pass
        finally:
            parser.dispose()
    return _parse_pure(path, text, report, restore)


def _parse_pure(path: str, text: str, report: Report, restore: dict[int, str]) -> tuple[tuple[int, int] | None, YNode | None, bool]:
    """One parse with PyYAML's pure-Python parser, for its error messages."""
    builder = _Builder(path, report, restore)
    try:
        events = yaml.parse(text, Loader=yaml.SafeLoader)
        if not builder.run(lambda: next(events, None)):
            return None, None, True
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "malformed YAML"
        if mark is not None and "'\\t'" in problem:
            return (mark.line, mark.column), None, True
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        report.error(Pos(path, line, col), f"YAML does not parse: {problem}")
        return None, None, True
    except yaml.reader.ReaderError as exc:  # a character PyYAML will not read, located by its index
        line, col = position_of(text, exc.position)
        char = exc.character if isinstance(exc.character, str) else chr(exc.character)
        report.error(Pos(path, line, col), f"{_character(char)} is not allowed")
        return None, None, True
    except yaml.YAMLError as exc:
        report.error(Pos(path, 1, 1), "YAML does not parse: " + " ".join(str(exc).split()))
        return None, None, True
    if builder.root is None and not builder.failed:
        report.error(Pos(path), "the file is empty; expected a mapping")
    return None, builder.root, builder.failed


class _Builder:
    """Turns parser events into YNodes, refusing what the content format forbids."""

    def __init__(self, path: str, report: Report, restore: dict[int, str]) -> None:
        self.path = path
        self.restore = restore
        self.report = report
        self.stack: list[YMap | YSeq] = []
        self.pending_key: list[YScalar | None] = []
        self.seen_keys: list[dict[str, int]] = []
        self.root: YNode | None = None
        self.documents = 0
        self.failed = False

    def _pos(self, mark: Any) -> Place:
        return (self.path, mark.line + 1, mark.column + 1)

    def _fail(self, mark: Any, message: str) -> None:
        self.report.error(self._pos(mark), message)
        self.failed = True

    def run(self, next_event: Callable[[], Any]) -> bool:
        """Take every event ``next_event`` gives until it gives None; False when parsing had to stop early."""
        # One loop, scalars first and made here: a story's file is a few hundred events, and method
        # calls for each cost more than libyaml's parse itself.
        path, report, restore = self.path, self.report, self.restore
        stack, pending_key, seen_keys = self.stack, self.pending_key, self.seen_keys
        scalar_kind = _Scalar
        while (event := next_event()) is not None:
            kind = type(event)
            if kind is scalar_kind:
                if event.tag is not None or event.anchor is not None:
                    self._properties(event)
                value = event.value.translate(restore) if restore else event.value
                mark: Any = event.start_mark
                # The prescan saw every character the file holds; only an escape, which needs double
                # quotes, can make one it did not see.
                if event.style == '"' and (bad := _CONTROL.search(value)):
                    report.error(self._pos(mark), f"{_character(bad.group())} is not allowed")
                end: Any = event.end_mark
                # Plain scalars have no style: None from the pure-Python parser, "" from libyaml's.
                node = YScalar((path, mark.line + 1, mark.column + 1), value, not event.style, end.line, end.column)
                self._attach(node, mark)
            elif kind is _MappingStart or kind is _SequenceStart:
                self._properties(event)
                if len(stack) >= MAX_DEPTH:
                    self._fail(event.start_mark, f"nesting deeper than {MAX_DEPTH} levels is not allowed")
                    return False
                mark = event.start_mark
                start = self._pos(mark)
                collection: YMap | YSeq = YMap(start) if kind is _MappingStart else YSeq(start)
                self._attach(collection, mark)
                stack.append(collection)
                pending_key.append(None)
                seen_keys.append({})
            elif kind is _MappingEnd or kind is _SequenceEnd:
                stack.pop()
                pending_key.pop()
                seen_keys.pop()
            elif kind is _DocumentStart:
                self.documents += 1
                if self.documents > 1:
                    self._fail(event.start_mark, "only one YAML document is allowed per file (remove the '---')")
                    return False
            elif kind is _Alias:
                # Stop at once: expanding aliases is how a few bytes become gigabytes.
                self._fail(event.start_mark, f"aliases (*{event.anchor}) are not allowed; write the value out")
                return False
        return True

    def _properties(self, event: Any) -> None:
        # Tags, anchors and bad characters are reported but not fatal: the rest of the file
        # is still checked, so the author sees every problem in one run.
        if event.tag is not None:
            self.report.error(self._pos(event.start_mark), f"YAML tags ({_short_tag(event.tag)}) are not allowed")
        if event.anchor is not None:
            self.report.error(self._pos(event.start_mark), f"anchors (&{event.anchor}) are not allowed")

    def _attach(self, node: YNode, mark: Any) -> None:
        if not self.stack:
            self.root = node
            return
        parent = self.stack[-1]
        if isinstance(parent, YSeq):
            parent.items.append(node)
            return
        key = self.pending_key[-1]
        if key is None:
            if not isinstance(node, YScalar):
                self.report.error(self._pos(mark), "a key must be a plain name, not " + describe(node))
                node = YScalar(node.pos, "", False, 0, 0)
            self.pending_key[-1] = node
            return
        self.pending_key[-1] = None
        first = self.seen_keys[-1].get(key.value)
        if first is not None:
            self.report.error(key.pos, f"duplicate key '{key.value}' (first on line {first})")
            return
        self.seen_keys[-1][key.value] = key.pos[1]  # its line
        parent.items.append((key, node))


def _short_tag(tag: str) -> str:
    """Write a resolved tag back the way authors write it (``!!python/object``)."""
    prefix = "tag:yaml.org,2002:"
    return "!!" + tag[len(prefix):] if tag.startswith(prefix) else tag
