"""What a build keeps for the next one, so that a rebuild costs in proportion to what changed.

For each story: the stat signatures of its files, the digest of their bytes, its diagnostics and
what lists show of it. For each output file: the key it was rendered with (a digest of everything
it depends on) and the stat signature of the file as written. A later build reuses a story whose
signatures are unchanged and keeps an output file whose key is unchanged and whose file is still
as written; everything else is computed again. Keys hold contents, never times, so a rebuild gives
the same bytes as a full build by construction.

The preview keeps the state in memory (with each story's parsed form, so a template edit only
re-renders, and for the stories its first build's workers read, their pages in a memory page
store); ``build`` saves it under ``.cache/``. A saved state that cannot be read, is corrupt,
or was written by other code is ignored: the build is then a full one.
"""

from __future__ import annotations

import dataclasses
import gc
import hashlib
import io
import os
import pickle
import struct
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .diagnostics import Diagnostic
from .files import Entry, compress, decompress, output_path, signature_of, stat_signature
from .fingerprint import changes_path, code_version
from .layout import body_of
from .loader import SiteInputs
from .narrative import Narrative, Section
from .pages import Listed, Part, StoryPage
from .writer import MARKER

if TYPE_CHECKING:
    from .render import Analyses


@dataclass
class StoryRecord:
    """What a build learnt of one story folder."""

    signature: tuple[object, ...]  # stat signatures of the folder and its two files
    digest: bytes  # of both files' bytes (empty when one could not be read)
    checked_with: bytes  # the digest of site.yaml and publishers.yaml its diagnostics were found with
    diagnostics: list[Diagnostic]
    listed: Listed | None  # None when the story has errors
    # In memory only (the preview): the parsed story and its computed page, so a template edit
    # re-renders without parsing again. Never saved: they are large and cheap to recompute.
    parsed: Any = field(default=None, compare=False)
    page: StoryPage | None = field(default=None, compare=False)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["parsed"] = state["page"] = None
        return state


@dataclass
class BuildState:
    """Everything kept between builds of one site (one content, templates and output folder)."""

    stories: dict[str, StoryRecord] = field(default_factory=dict)  # by slug
    fragments: Mapping[tuple[bytes, int, bytes], str] = field(default_factory=dict)  # list entries by key (render.FragmentKey)
    outputs: dict[str, tuple[bytes, tuple[int, ...] | None]] = field(default_factory=dict)  # path -> (key, signature as written)
    version: str = ""
    marker: tuple[int, ...] | None = None  # the output folder's marker file as last written (see untouched)
    # What the recorded outputs' keys were made in besides each story (builder._contexts), set with
    # them and cleared by a build that changes a story record: None when the records may differ
    # from those the keys were made from.
    contexts: tuple[bytes, ...] | None = None
    # Every entry of the output folder, for the fingerprint (see fingerprint.update_entries): what
    # the last builds wrote as they left it, the rest as last seen when the whole folder was
    # looked at (a build that missed the shortcut and learnt nothing looks again). None: not known.
    site_entries: dict[str, tuple[int, ...]] | None = None
    in_memory: bool = False  # keep each story's parsed form too (the preview, never a saved state)
    environment: Any = field(default=None, compare=False)  # (templates digest, compiled Jinja environment); in memory only
    compiled_dir: str | None = field(default=None, compare=False)  # where compiled templates are kept between runs
    pages: PageStore | MemoryPageStore | None = field(default=None, compare=False)  # each story's computed page, kept between runs
    analyses: Analyses | None = None  # of the templates, with their digest and each template's facts (render.Renderer)
    # In memory only (the preview), to spare work on every save: the story folders with the
    # diagnostics of listing them, and the site settings as last read.
    listing: tuple[str, list[Entry], list[Diagnostic]] | None = field(default=None, compare=False)
    site_inputs: tuple[SiteInputs, list[Diagnostic]] | None = field(default=None, compare=False)  # loader.load_site's, with its diagnostics
    # The contexts of the last build that succeeded, and each story's own outputs with their keys (see builder).
    settled: tuple[tuple[bytes, ...], dict[str, tuple[tuple[str, bytes], ...]]] | None = field(default=None, compare=False)
    saved: Saved | None = field(default=None, compare=False)  # what the files under .cache/ hold of this state (see save_state)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        for name in ("environment", "compiled_dir", "pages", "listing", "site_inputs", "settled", "saved"):
            state[name] = None
        state["fragments"] = {key: str(text) for key, text in self.fragments.items()}  # plain text, not markup
        return state

    def intact(self, out_dir: str, trust: bool = False) -> dict[str, bytes]:
        """The key of every output file still exactly as this state wrote it (``trust``: without looking)."""
        if trust:
            return {path: key for path, (key, signature) in self.outputs.items() if signature is not None}
        have: dict[str, bytes] = {}
        for path, (key, signature) in self.outputs.items():
            if signature is not None and stat_signature(output_path(out_dir, path)) == signature:
                have[path] = key
        return have

    def untouched(self, out_dir: str) -> bool:
        """Whether no other writer has been at the output folder since this state recorded it.

        Every write replaces the folder's marker file, so another process's build (or the folder
        emptied by hand) shows as a new or missing marker.
        """
        return self.marker is not None and stat_signature(os.path.join(out_dir, MARKER)) == self.marker

    def record_outputs(self, out_dir: str, keys: dict[str, bytes], written: set[str] | None, contexts: tuple[bytes, ...] | None = None) -> None:
        """Remember what the output folder now holds: each file's key and signature (``written``: None means all).

        ``contexts``: those of the build that made the keys (BuildResult.contexts), when its story
        records are the state's.
        """
        self.marker = stat_signature(os.path.join(out_dir, MARKER))
        self.contexts = contexts
        old = self.outputs
        self.outputs = {}
        for path, key in keys.items():
            if written is None or path in written or path not in old:
                signature = stat_signature(output_path(out_dir, path))
            else:
                signature = old[path][1]
            self.outputs[path] = (key, signature)


class PageStore:
    """Each story's computed page (rendered narrative, markers, source list) in an SQLite file.

    A template edit changes every story page but none of what the pages show: with this store the
    build renders them again without parsing or rendering any markdown. Rows are found by slug and
    used only when their key (the digest of the story's bytes and of the site settings) matches;
    a store that cannot be opened or read is simply not used.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._db: Any = None
        self._pid = 0

    def _connect(self) -> Any:
        import sqlite3

        if self._db is not None and self._pid == os.getpid():
            return self._db
        # A connection is never shared across a fork: each worker process opens its own.
        self._pid, self._db = os.getpid(), None
        try:  # a first build keeps the site's settings before anything else made the cache folder
            os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
        except OSError:
            return None
        for attempt in (1, 2):
            try:
                db = sqlite3.connect(self.path, timeout=5)
                db.execute("PRAGMA synchronous = OFF")  # a cache: after a crash it is checked, never trusted blindly
                db.execute("CREATE TABLE IF NOT EXISTS pages (slug TEXT PRIMARY KEY, key BLOB, data BLOB)")
                db.execute("CREATE TABLE IF NOT EXISTS bodies (slug TEXT PRIMARY KEY, key BLOB, data BLOB)")
                # site.yaml and publishers.yaml as converted (see loader.ParseMemo), by path as shown.
                db.execute("CREATE TABLE IF NOT EXISTS site_files (shown TEXT PRIMARY KEY, key BLOB, data BLOB)")
                db.execute("CREATE TABLE IF NOT EXISTS meta (version TEXT)")
                row = db.execute("SELECT version FROM meta").fetchone()
                if row is None or row[0] != code_version():
                    with db:
                        db.execute("DELETE FROM pages")
                        db.execute("DELETE FROM bodies")
                        db.execute("DELETE FROM site_files")
                        db.execute("DELETE FROM meta")
                        db.execute("INSERT INTO meta VALUES (?)", (code_version(),))
            except sqlite3.OperationalError:  # busy or locked by another build: not damaged, just not used now
                return None
            except sqlite3.DatabaseError:
                if attempt == 2:
                    return None
                try:  # not a database (damaged): start a new one
                    os.remove(self.path)
                except OSError:
                    return None
                continue
            except sqlite3.Error:
                return None
            self._db = db
            return db
        return None

    def _row(self, query: str, name: str) -> Any:
        """The one row ``query`` finds for ``name``; None when there is none or the store cannot be read."""
        import sqlite3

        try:
            db = self._connect()
            return db.execute(query, (name,)).fetchone() if db is not None else None
        except sqlite3.Error:
            return None

    def get(self, slug: str, key: bytes) -> StoryPage | None:
        """The stored page of a story, if it was stored under this key."""
        row = self._row("SELECT key, data FROM pages WHERE slug = ?", slug)
        return _page_of(row[1]) if row is not None and row[0] == key else None

    def body(self, slug: str, key: bytes) -> tuple[dict[str, str], str] | None:
        """The kept blocks and JSON-LD of a story's page (see layout), if they were kept under this key."""
        row = self._row("SELECT key, data FROM bodies WHERE slug = ?", slug)
        return body_of(row[1]) if row is not None and row[0] == key else None

    def recall(self, shown: str, key: bytes) -> tuple[object, list[Diagnostic]] | None:
        """A site file's conversion and its diagnostics, if kept under this key (see loader.ParseMemo)."""
        row = self._row("SELECT key, data FROM site_files WHERE shown = ?", shown)
        return _parsed_of(row[1]) if row is not None and row[0] == key else None

    def facts_of(self, slug: str, shown: str, key: bytes) -> tuple[object, list[Diagnostic]] | None:
        """A story's facts as converted, and that conversion's diagnostics, from its stored page if made under this key.

        Every build stores the page of each story it renders, with the story's facts: after an
        edit of the narrative alone, they are the facts the rebuild needs (see loader.ParseMemo).
        """
        row = self._row("SELECT data FROM pages WHERE slug = ?", slug)
        return _facts_in(_page_of(row[0]), shown, key) if row is not None else None

    def put(self, rows: dict[str, tuple[bytes, bytes]], table: str = "pages") -> None:
        """Store pages, or with ``table="bodies"`` their kept blocks (slug -> (key, data)); a failure only costs time later."""
        assert table in ("pages", "bodies")
        self._write(lambda db: db.executemany(f"INSERT OR REPLACE INTO {table} VALUES (?, ?, ?)", [(s, k, d) for s, (k, d) in rows.items()]))

    def keep_parsed(self, made: Mapping[str, tuple[bytes, object, list[Diagnostic]]]) -> None:
        """Store site files' conversions (loader.ParseMemo.made: path shown -> (key, converted, diagnostics))."""
        rows = [(shown, key, _storable_parsed(value, found)) for shown, (key, value, found) in made.items()]
        self._write(lambda db: db.executemany("INSERT OR REPLACE INTO site_files VALUES (?, ?, ?)", rows))

    def prune(self, keep: set[str]) -> None:
        """Forget the pages of stories no longer in ``keep``."""
        def forget(db: Any) -> None:
            for table in ("pages", "bodies"):
                gone = [(slug,) for (slug,) in db.execute(f"SELECT slug FROM {table}") if slug not in keep]
                db.executemany(f"DELETE FROM {table} WHERE slug = ?", gone)

        self._write(forget)

    def close(self) -> None:
        """Close this process's connection, if it has one."""
        if self._db is not None and self._pid == os.getpid():
            self._db.close()
        self._db = None

    def _write(self, change: Any) -> None:
        import sqlite3

        try:
            db = self._connect()
            if db is not None:
                with db:
                    change(db)
        except sqlite3.Error:
            pass


class MemoryPageStore:
    """The preview's page store: the same rows as PageStore, in memory.

    The preview's first build runs in worker processes, whose parsed stories never reach it; the
    pages and kept blocks they send back spare the first template edit from parsing every story
    again (later builds keep each story's parsed form instead, see StoryRecord).
    """

    def __init__(self) -> None:
        self.tables: dict[str, dict[str, tuple[bytes, bytes]]] = {"pages": {}, "bodies": {}, "site_files": {}}

    def get(self, slug: str, key: bytes) -> StoryPage | None:
        """The stored page of a story, if it was stored under this key."""
        row = self.tables["pages"].get(slug)
        return _page_of(row[1]) if row is not None and row[0] == key else None

    def body(self, slug: str, key: bytes) -> tuple[dict[str, str], str] | None:
        """The kept blocks and JSON-LD of a story's page, if they were kept under this key."""
        row = self.tables["bodies"].get(slug)
        return body_of(row[1]) if row is not None and row[0] == key else None

    def recall(self, shown: str, key: bytes) -> tuple[object, list[Diagnostic]] | None:
        """A site file's conversion and its diagnostics, if kept under this key."""
        row = self.tables["site_files"].get(shown)
        return _parsed_of(row[1]) if row is not None and row[0] == key else None

    def facts_of(self, slug: str, shown: str, key: bytes) -> tuple[object, list[Diagnostic]] | None:
        """A story's facts as converted, from its stored page if made under this key."""
        row = self.tables["pages"].get(slug)
        return _facts_in(_page_of(row[1]), shown, key) if row is not None else None

    def put(self, rows: dict[str, tuple[bytes, bytes]], table: str = "pages") -> None:
        """Store pages, or with ``table="bodies"`` their kept blocks (slug -> (key, data))."""
        self.tables[table].update(rows)

    def keep_parsed(self, made: Mapping[str, tuple[bytes, object, list[Diagnostic]]]) -> None:
        """Store site files' conversions (path shown -> (key, converted, diagnostics))."""
        self.tables["site_files"].update((shown, (key, _storable_parsed(value, found))) for shown, (key, value, found) in made.items())

    def prune(self, keep: set[str]) -> None:
        """Forget the pages of stories no longer in ``keep``."""
        for table in ("pages", "bodies"):
            rows = self.tables[table]
            for slug in [slug for slug in rows if slug not in keep]:
                del rows[slug]

    def close(self) -> None:
        """Nothing to close."""


def _page_of(data: bytes) -> StoryPage | None:
    """A stored page read back; None when the bytes are not one."""
    try:
        page = _Unpickler(io.BytesIO(decompress(data))).load()
    except Exception:  # any damage at all, as for the state and the kept blocks
        return None
    return page if isinstance(page, StoryPage) else None


def _facts_in(page: StoryPage | None, shown: str, key: bytes) -> tuple[object, list[Diagnostic]] | None:
    """The facts a stored page was made from, with their conversion's diagnostics, if converted from that file under that key."""
    if page is None or page.story.facts_path != shown or page.story.facts_key != key or not key:
        return None
    diagnostics = page.story.facts_diagnostics
    if not isinstance(diagnostics, list) or not all(isinstance(d, Diagnostic) for d in diagnostics):
        return None
    return page.story.facts, diagnostics


def _parsed_of(data: bytes) -> tuple[object, list[Diagnostic]] | None:
    """A stored YAML conversion read back; None when the bytes are not one (the loader checks the value's kind)."""
    try:
        value, diagnostics = _Unpickler(io.BytesIO(decompress(data))).load()
    except Exception:  # any damage at all, as for pages
        return None
    if not isinstance(diagnostics, list) or not all(isinstance(d, Diagnostic) for d in diagnostics):
        return None
    return value, diagnostics


def _storable_parsed(value: object, diagnostics: list[Diagnostic]) -> bytes:
    """A YAML file's conversion and diagnostics as the store keeps them."""
    return compress(pickle.dumps((value, diagnostics), protocol=pickle.HIGHEST_PROTOCOL))


def storable_page(page: StoryPage) -> bytes:
    """A page as the store keeps it: without the markdown tokens it was rendered from."""
    story = dataclasses.replace(page.story, narrative=Narrative())
    parts = [Part(Section(p.section.title, p.section.anchor, [], p.section.is_why), p.html) for p in page.parts]
    # Compressed (quickly): a page is mostly HTML, and every byte written costs on a slow disk.
    return compress(pickle.dumps(dataclasses.replace(page, story=story, parts=parts), protocol=pickle.HIGHEST_PROTOCOL))


# Only these may be rebuilt from a saved state, besides the generator's own data classes: a cache
# file can never make the build call anything else.
_ALLOWED = {
    ("builtins", "set"), ("builtins", "frozenset"),
    ("markupsafe", "Markup"), ("datetime", "date"), ("datetime", "datetime"), ("datetime", "timezone"), ("datetime", "timedelta"),
    ("copyreg", "_reconstructor"), ("builtins", "object"),
}


_FOUND: dict[tuple[str, str], Any] = {}


def _data_class(module: str, name: str) -> Any:
    """One of the generator's own data classes (or named tuples), by module and name; None for anything else.

    Only a class defined in an ``explainer`` module already loaded, and named without dots (pickle
    would otherwise walk ``explainer.cache.os.system`` to a function that runs commands).
    """
    loaded = sys.modules.get(module) if module.startswith("explainer.") and "." not in name else None
    found = getattr(loaded, name, None)
    if isinstance(found, type) and found.__module__ == module and (dataclasses.is_dataclass(found) or _named_tuple(found)):
        return found
    return None


def _named_tuple(cls: type) -> bool:
    """Whether a class is a named tuple (such as diagnostics.Pos): made from its fields alone."""
    return issubclass(cls, tuple) and isinstance(getattr(cls, "_fields", None), tuple)


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        found = _FOUND.get((module, name))
        if found is None:
            found = super().find_class(module, name) if (module, name) in _ALLOWED else _data_class(module, name)
            if found is None:
                raise pickle.UnpicklingError(f"{module}.{name} is not part of a build state")
            _FOUND[(module, name)] = found
        return found


# A saved state is a snapshot (the .pickle file) and the changes of the builds since (the
# .changes file beside it): a build that changed one story appends that story's record, its list
# entries and its outputs' keys, a few kilobytes, rather than writing the whole state again (2.8 MB
# at 1000 stories, 30-45 ms). Once the changes reach a 32nd of the snapshot, the next build
# writes a new snapshot. Every build reads and applies all the changes (70 us each, measured in a
# slow hour), so their log is kept near the length where that costs as much as the snapshots do
# over the builds between them: a quarter (some 340 one-story changes at 1000 stories) cost a
# rebuild 12 ms on average, a 32nd (some 40) about 3 ms.
#
# The snapshot starts with this line, the version of the code that wrote it, and a token drawn
# for it: a state from other code is recognised before anything in it is read (its classes may
# differ), and changes are applied only to the snapshot whose token they carry.
_HEADER = b"explainer build state "
_CHANGES = b"explainer build changes "
_ENTRY = struct.Struct(">I16s")  # each change: its length and a digest of its bytes, then the bytes
CHANGES_SHARE = 32  # the changes may grow to this fraction of the snapshot (1/32) before it is written again
CHANGES_FLOOR = 64 * 1024  # and a small site's to this


@dataclass
class Saved:
    """What the cache files hold of a state, as loaded or last saved: what the next save compares with."""

    snapshot: tuple[int, ...] | None  # the snapshot file's stat signature
    token: bytes
    version: str
    size: int  # of the snapshot
    changes_end: int  # where the changes file's last whole entry ends (0: no file yet; -1: one the next save must not append to)
    stories: dict[str, StoryRecord]
    fragments: dict[tuple[bytes, int, bytes], str]
    outputs: dict[str, tuple[bytes, tuple[int, ...] | None]]
    site_entries: dict[str, tuple[int, ...]]

    @staticmethod
    def of(state: BuildState, snapshot: tuple[int, ...] | None, token: bytes, size: int, changes_end: int) -> Saved:
        """A record of ``state`` as the files now hold it (copies of its tables: a build replaces them)."""
        tables = dict(state.stories), dict(state.fragments), dict(state.outputs), dict(state.site_entries or {})
        return Saved(snapshot, token, state.version, size, changes_end, *tables)

    def changes(self, state: BuildState) -> dict[str, Any]:
        """What ``state`` holds that the files do not: changed and removed entries, and the few single values."""
        stories = {slug: r for slug, r in state.stories.items() if (old := self.stories.get(slug)) is not r and old != r}
        return {
            "stories": stories,
            "stories gone": [slug for slug in self.stories if slug not in state.stories],
            "fragments": {key: str(text) for key, text in state.fragments.items() if self.fragments.get(key) != text},
            "fragments gone": [key for key in self.fragments if key not in state.fragments],
            "outputs": {path: kept for path, kept in state.outputs.items() if self.outputs.get(path) != kept},
            "outputs gone": [path for path in self.outputs if path not in state.outputs],
            "site entries": None if state.site_entries is None else {p: n for p, n in state.site_entries.items() if self.site_entries.get(p) != n},
            "site entries gone": [] if state.site_entries is None else [p for p in self.site_entries if p not in state.site_entries],
            "marker": state.marker,
            "contexts": state.contexts,
            "analyses": state.analyses,
        }


def _apply(state: BuildState, changes: dict[str, Any]) -> None:
    """Bring a loaded snapshot up to date with one build's changes."""
    fragments = state.fragments if isinstance(state.fragments, dict) else dict(state.fragments)  # a loaded state's is a dict
    for table, name in ((state.stories, "stories"), (fragments, "fragments"), (state.outputs, "outputs")):
        table.update(changes[name])
        for key in changes[name + " gone"]:
            table.pop(key, None)
    state.fragments = fragments
    state.marker, state.contexts, state.analyses = changes["marker"], changes["contexts"], changes["analyses"]
    if changes["site entries"] is None:
        state.site_entries = None
    else:
        state.site_entries = state.site_entries if state.site_entries is not None else {}
        state.site_entries.update(changes["site entries"])
        for path in changes["site entries gone"]:
            state.site_entries.pop(path, None)


def _load(data: bytes) -> Any:
    """Unpickle cache data with only the classes a state may hold (see _Unpickler)."""
    # Loading makes some hundred thousand objects at once: the cyclic garbage collector would
    # walk them again and again meanwhile, so it is paused (the command line then freezes them).
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _Unpickler(io.BytesIO(data)).load()
    finally:
        if collecting:
            gc.enable()


def load_state(path: str) -> tuple[BuildState, str | None]:
    """The saved state, or an empty one and why the saved one cannot be used (None: there was none)."""
    version = code_version()
    try:
        with open(path, "rb") as f:
            snapshot = signature_of(os.fstat(f.fileno()))
            # The header line, then the state: read apart, so the 3 MB of a large site's state are not copied again.
            header, body = f.readline(), f.read()
    except FileNotFoundError:
        return BuildState(version=version), None
    except OSError as exc:
        return BuildState(version=version), f"cannot read it ({exc.strerror or exc})"
    size, header = len(header) + len(body), header.rstrip(b"\n")
    if not header.startswith(_HEADER):  # damaged, or written by code older than the header
        return BuildState(version=version), "it is damaged or from an older version of the generator"
    written_by, _, token = header[len(_HEADER):].partition(b" ")
    if written_by != version.encode():
        return BuildState(version=version), "another version of the generator wrote it"
    try:
        state = _load(body)
    except Exception:  # any damage at all: truncated, garbage, a class that no longer exists
        return BuildState(version=version), "it is damaged"
    if not isinstance(state, BuildState) or state.version != version or not token:
        return BuildState(version=version), "another version of the generator wrote it"
    try:
        changes_end = _read_changes(changes_path(path), token, state)
    except Exception:  # changes that passed their digest but do not apply: not this code's
        return BuildState(version=version), "it is damaged"
    state.saved = Saved.of(state, snapshot, token, size, changes_end)
    return state, None


def _read_changes(path: str, token: bytes, state: BuildState) -> int:
    """Apply the changes saved after the snapshot whose token is ``token``; where the last whole one ends.

    Changes of another snapshot (one replaced since) are ignored. Reading stops at the first entry
    cut short or damaged, as by a build killed while it appended: the state is then as the builds
    before it left it, older than the output folder, which only costs the next build time (it
    finds the folder's marker newer than its state's and builds the site whole). -1 then, or when the file
    belongs to another snapshot: the next save writes a new snapshot rather than append after it.
    """
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return 0
    except OSError:
        return -1
    first = _CHANGES + token + b"\n"
    if not data.startswith(first):
        return -1
    at = len(first)
    while at < len(data):
        if at + _ENTRY.size > len(data):
            return -1
        length, check = _ENTRY.unpack_from(data, at)
        entry = data[at + _ENTRY.size : at + _ENTRY.size + length]
        if len(entry) != length or hashlib.blake2b(entry, digest_size=16).digest() != check:
            return -1
        _apply(state, _load(entry))
        at += _ENTRY.size + length
    return at


def save_state(path: str, state: BuildState) -> None:
    """Save the state: its changes appended when the files hold the rest, otherwise a new snapshot.

    Either way a build killed meanwhile leaves the previous state or none (a change cut short is
    ignored when loading).
    """
    saved = state.saved
    changes = changes_path(path)
    if saved is not None and saved.snapshot is not None and saved.version == state.version and saved.changes_end >= 0:
        try:
            files_as_loaded = stat_signature(path) == saved.snapshot and _size(changes) == saved.changes_end
        except OSError:
            files_as_loaded = False
        entry = pickle.dumps(saved.changes(state), protocol=pickle.HIGHEST_PROTOCOL) if files_as_loaded else b""
        if files_as_loaded and saved.changes_end + _ENTRY.size + len(entry) <= max(saved.size // CHANGES_SHARE, CHANGES_FLOOR):
            with open(changes, "ab") as f:
                if saved.changes_end == 0:
                    f.write(_CHANGES + saved.token + b"\n")
                f.write(_ENTRY.pack(len(entry), hashlib.blake2b(entry, digest_size=16).digest()) + entry)
                end = f.tell()
            state.saved = Saved.of(state, saved.snapshot, saved.token, saved.size, end)
            return
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    token = os.urandom(16).hex().encode()
    temporary = f"{path}.{os.getpid()}.tmp"
    try:
        with open(temporary, "wb") as f:
            f.write(_HEADER + state.version.encode() + b" " + token + b"\n")
            pickle.dump(state, f, protocol=pickle.HIGHEST_PROTOCOL)
            size = f.tell()
        os.replace(temporary, path)
    except BaseException:
        try:
            os.remove(temporary)
        except OSError:
            pass
        raise
    # The old changes carry the old snapshot's token: left behind (by a build killed here, or a
    # removal refused), they are ignored when loading, and the next save starts a new snapshot.
    changes_end = 0
    try:
        os.remove(changes)
    except FileNotFoundError:
        pass
    except OSError:
        changes_end = -1
    state.saved = Saved.of(state, stat_signature(path), token, size, changes_end)


def _size(path: str) -> int:
    """A file's size; 0 when there is none."""
    try:
        return os.stat(path).st_size
    except FileNotFoundError:
        return 0
