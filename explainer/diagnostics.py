"""Compiler-style diagnostics: collected, sorted, printed as text or JSON."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

Severity = Literal["error", "warning"]


class Pos(NamedTuple):
    """A place in a file, as a diagnostic names it; line and column start at 1 and count code points (0 means no place)."""

    path: str
    line: int = 0
    col: int = 0


# A position as the content model keeps it: a plain (path, line, column) tuple, equal to the Pos
# it stands for. Pickle writes and reads a plain tuple in C, but a named tuple through a Python
# call each way, and a stored page holds hundreds: pickling one went from 0.80 to 0.30 ms.
# Reports take either, and turn it into a Pos.
Place = tuple[str, int, int]
NOWHERE: Place = ("", 0, 0)  # no file, no line: the place of a value nobody wrote


@dataclass(frozen=True)
class Diagnostic:
    """One problem found in the content or templates."""

    pos: Pos
    severity: Severity
    message: str

    def sort_key(self) -> tuple[str, int, int, int, str]:
        """Order by file, line, column, errors before warnings, then message."""
        return (self.pos.path, self.pos.line, self.pos.col, self.severity != "error", self.message)

    def where(self) -> str:
        """`path:line:col`, leaving out what is not known (templates have no column)."""
        where = self.pos.path
        if self.pos.line:
            where += f":{self.pos.line}"
            if self.pos.col:
                where += f":{self.pos.col}"
        return where

    def text(self) -> str:
        """Format as `path:line:col: severity: message`, as compilers and editors print them."""
        return visible(f"{self.where()}: {self.severity}: {self.message}")

    def as_dict(self) -> dict[str, object]:
        """The diagnostic as a JSON-ready dict."""
        return {
            "path": self.pos.path,
            "line": self.pos.line or None,
            "column": self.pos.col or None,
            "severity": self.severity,
            "message": self.message,
        }


# Control characters (C0, DEL and C1): a message quotes what the author wrote, and a terminal
# would obey an escape sequence in it (colours, a moved cursor, a changed window title).
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def visible(text: str) -> str:
    """The text with every control character written as an escape (``\\x1b``), safe to print."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


@dataclass
class Report:
    """Collects every diagnostic of one run."""

    items: list[Diagnostic] = field(default_factory=list)

    def error(self, pos: Place, message: str) -> None:
        """Record an error."""
        self.items.append(Diagnostic(Pos(*pos), "error", message))

    def warning(self, pos: Place, message: str) -> None:
        """Record a warning."""
        self.items.append(Diagnostic(Pos(*pos), "warning", message))

    def extend(self, other: Report) -> None:
        """Take over another report's diagnostics."""
        self.items.extend(other.items)

    def sorted(self) -> list[Diagnostic]:
        """Every diagnostic once, sorted by file, line and column."""
        return sorted(set(self.items), key=Diagnostic.sort_key)

    def failed(self, strict: bool = False) -> bool:
        """True when there is an error, or any warning under --strict."""
        return any(d.severity == "error" or strict for d in self.items)

    def counts(self) -> tuple[int, int]:
        """The numbers of errors and warnings."""
        errors = sum(1 for d in set(self.items) if d.severity == "error")
        return errors, len(set(self.items)) - errors


def format_text(diagnostics: list[Diagnostic]) -> str:
    """One line per diagnostic, as compilers and editors print them."""
    return "".join(d.text() + "\n" for d in diagnostics)


def format_json(diagnostics: list[Diagnostic]) -> str:
    """The diagnostics as a JSON list."""
    return json.dumps([d.as_dict() for d in diagnostics], indent=2, ensure_ascii=False) + "\n"
