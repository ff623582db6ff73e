"""Results kept between builds in one process, keyed by the bytes they were made from.

A key holds everything its result depends on (file contents, never file times), so a build that
reuses results is the same as a full build by construction. After each build, entries the build
did not use are dropped, so memory follows the site, not the number of saves.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from .diagnostics import Diagnostic, Report

T = TypeVar("T")


def digest(*parts: bytes) -> bytes:
    """A short, collision-resistant digest of some byte strings (their boundaries count)."""
    h = hashlib.blake2b(digest_size=16)
    for part in parts:
        h.update(len(part).to_bytes(8, "little"))
        h.update(part)
    return h.digest()


# Entries a build did not use are dropped in one pass once there are more than this many: a pass over
# tens of thousands of entries on every save would cost more than the few stale ones weigh.
STALE_SLACK = 256


class Frozen:
    """A tuple of values that computes its hash once; cache keys built from it stay cheap to look up."""

    __slots__ = ("_hash", "values")

    def __init__(self, values: tuple[Any, ...]) -> None:
        self.values = values
        self._hash = hash(values)

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        return self is other or (isinstance(other, Frozen) and self._hash == other._hash and self.values == other.values)


class Memo:
    """One kind of cached result, pruned to what the last build used."""

    def __init__(self) -> None:
        self.entries: dict[Hashable, Any] = {}
        self.used: set[Hashable] = set()

    def get(self, key: Hashable) -> Any | None:
        """The cached value, or None."""
        value = self.entries.get(key)
        if value is not None:
            self.used.add(key)
        return value

    def put(self, key: Hashable, value: Any) -> None:
        """Remember a value for this build and the next."""
        self.entries[key] = value
        self.used.add(key)

    def prune(self) -> None:
        """Forget what the last build did not use, once enough has piled up to be worth a pass."""
        if len(self.entries) - len(self.used) > STALE_SLACK:
            self.entries = {k: v for k, v in self.entries.items() if k in self.used}
        self.used = set()


class BuildCache:
    """What the preview keeps between builds: parsed files and rendered story pages."""

    def __init__(self) -> None:
        self.results = Memo()  # (kind, path, digest of what it came from) -> (result, diagnostics): parses, checks, listings
        self.pages = Memo()  # (slug, story digest, context digest) -> {output path: bytes}
        self.files = Memo()  # path -> (stat signature, (bytes, digest))
        self.environments = Memo()  # (templates folder, digest of every template file) -> compiled Jinja environment

    def finish(self) -> None:
        """Drop entries the build just finished did not use."""
        self.results.prune()
        self.pages.prune()
        self.files.prune()
        self.environments.prune()


def remember(cache: BuildCache | None, key: Hashable, report: Report, make: Callable[[Report], T]) -> T:
    """``make(report)``, or its cached result with its diagnostics replayed into the report."""
    if cache is not None:
        hit = cache.results.get(key)
        if hit is not None:
            value, diagnostics = hit
            report.items.extend(diagnostics)
            return value  # type: ignore[no-any-return]
    own = Report()
    value = make(own)
    report.extend(own)
    if cache is not None:
        cache.results.put(key, (value, list[Diagnostic](own.items)))
    return value


def stat_signature(path: str) -> tuple[int, ...] | None:
    """What changes whenever a file's bytes may have: its inode, size, and modification and change times.

    The change time (ctime) is set by the kernel on every write and cannot be set back by tools, so
    equal signatures mean the bytes read last time are still the file's bytes.
    """
    try:
        st = os.stat(path, follow_symlinks=False)
    except OSError:
        return None
    return (st.st_ino, st.st_dev, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_mode)
