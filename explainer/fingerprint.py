"""The shortcut for a rebuild with nothing to do, and the facts about the cache it needs.

This module imports nothing heavy on purpose: a rebuild with nothing to do should cost one look
at the files, not the import of the YAML, markdown and template libraries (which alone take
longer than the whole look).

After a successful build, the command line saves a fingerprint next to the build state: the stat
signature of every entry under the content and templates folders (taken before the build read
any of them), of every entry of the output folder and of the saved state (taken after), and the
generator's code version. A later build whose fingerprint is the same has nothing to do, and
prints what that build printed. Any difference at all falls back to the incremental build, which
removes the fingerprint before it writes anything, so a build killed half-way never leaves one.
"""

from __future__ import annotations

import functools
import hashlib
import os
import stat
import sys
import time
from collections.abc import Iterable

FORMAT = 1  # of the saved state; part of the code version

# A file changed this recently may change again without its stat signature changing: time stamps
# advance in ticks of the system clock (a few milliseconds) on Linux's file systems, and in whole
# seconds on some others (FAT, some network file systems), which whole-millisecond stamps betray.
SETTLED_NS = 50_000_000
COARSE_SETTLED_NS = 2_000_000_000


def state_path(cache_dir: str, *identity: str) -> str:
    """Where the state of one site lives: one file per content, templates, output folder and options."""
    name = hashlib.blake2b("\0".join(identity).encode("utf-8", "surrogateescape"), digest_size=8).hexdigest()
    return os.path.join(cache_dir, f"build-{name}.pickle")


# The libraries whose versions shape the output (mdurl normalizes markdown-it's links).
_LIBRARIES = {"jinja2": "jinja2-", "markupsafe": "markupsafe-", "markdown_it": "markdown-it-py-", "mdurl": "mdurl-", "yaml": "pyyaml-"}


def _library_versions() -> list[str]:
    """The installed distributions of those libraries, by their metadata folders' names (which hold the version).

    Read from the folder listing rather than with importlib.metadata, whose import alone would cost
    a rebuild with nothing to do a tenth of its time.
    """
    import importlib.util

    folders = set()
    for module in _LIBRARIES:
        spec = importlib.util.find_spec(module)
        if spec is not None and spec.origin:
            folders.add(os.path.dirname(os.path.dirname(spec.origin)))
    names = []
    for folder in sorted(folders):
        for entry in os.listdir(folder):
            normal = entry.lower().replace("_", "-")
            if normal.endswith((".dist-info", ".egg-info")) and normal.startswith(tuple(_LIBRARIES.values())):
                names.append(entry)
    return sorted(names)


@functools.cache
def code_version() -> str:
    """Changes whenever the generator's code, the libraries that shape its output or the Python running it do.

    A state or page written by other code is never trusted.
    """
    h = hashlib.blake2b(digest_size=16)
    h.update(f"{FORMAT} {sys.version} {' '.join(_library_versions())}".encode())
    package = os.path.dirname(os.path.abspath(__file__))
    for name in sorted(os.listdir(package)):
        if name.endswith(".py"):
            with open(os.path.join(package, name), "rb") as f:
                h.update(name.encode() + b"\0" + f.read())
    return h.hexdigest()


def _walk(root: str, h: hashlib.blake2b, seen: dict[str, os.stat_result] | None = None) -> tuple[int, bool] | None:
    """Feed the stat signature of ``root`` and of everything under it into ``h`` (and each entry's stat into ``seen``).

    Returns the newest change time seen, and whether any time stamp was a whole millisecond (a
    file system with coarse time stamps).

    None when the signatures cannot vouch for the contents: a symbolic link (its target is not
    looked at) or an unreadable folder.
    """
    try:
        st = os.stat(root)
    except OSError:
        return None
    # Names and numbers go into two flat lists, digested once each at the end: a folder of a
    # few thousand files costs its stat calls and little more. A folder's entry ends with "/",
    # which no name contains, so the listing cannot be read two ways.
    names = [root + "/"]
    numbers = [st.st_ino, st.st_dev, st.st_mode]
    newest, coarse = 0, False
    stack = [root]
    while stack:
        folder = stack.pop()
        names.append(folder + "/")
        try:
            # In the order the system lists them, unsorted: an unchanged folder lists the same way,
            # and a different order only costs a full rebuild's check, never a wrong shortcut.
            with os.scandir(folder) as it:
                for e in it:
                    st = e.stat(follow_symlinks=False)
                    mode = st.st_mode
                    if stat.S_ISLNK(mode):
                        return None
                    if stat.S_ISDIR(mode):
                        stack.append(e.path)
                    changed, modified = st.st_ctime_ns, st.st_mtime_ns  # ctime: never older than mtime, unless set by hand
                    newest = changed if changed > newest else newest
                    newest = modified if modified > newest else newest
                    coarse = coarse or changed % 1_000_000 == 0
                    names.append(e.name)
                    if seen is not None:
                        seen[e.path] = st
                    numbers += (st.st_ino, st.st_dev, mode, st.st_size, modified, changed)
        except OSError:
            return None
    for part in ("\0".join(names).encode("utf-8", "surrogateescape"), repr(numbers).encode()):
        h.update(len(part).to_bytes(8, "little"))  # each part's length first: the boundaries count
        h.update(part)
    return newest, coarse


def inputs_digest(content_dir: str, templates_dir: str, seen: dict[str, os.stat_result] | None = None) -> tuple[str | None, bool]:
    """The fingerprint of the inputs (None when it cannot vouch for them) and whether it may be saved.

    It may not when an input changed within ``SETTLED_NS`` of now: a second change in the same
    tick of the file system's clock would leave the same signature. ``seen`` receives the stat of
    every entry under the content folder, by path: the build takes its story signatures from them
    rather than asking the system again for the same few thousand entries.
    """
    now = time.time_ns()
    h = hashlib.blake2b(digest_size=16)
    content, templates = _walk(content_dir, h, seen), _walk(templates_dir, h)
    if content is None or templates is None:
        return None, False
    margin = COARSE_SETTLED_NS if content[1] or templates[1] else SETTLED_NS
    return h.hexdigest(), max(content[0], templates[0]) < now - margin


Entries = dict[str, tuple[int, ...]]  # the output folder's entries by path within it ("" for the folder), with their stat numbers


def _numbers(st: os.stat_result) -> tuple[int, ...]:
    return (st.st_ino, st.st_dev, st.st_mode, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def output_entries(out_dir: str) -> Entries | None:
    """Every entry under the output folder with its stat numbers; None when they cannot vouch for it (a link, an unreadable folder)."""
    try:
        entries = {"": _numbers(os.stat(out_dir))}
    except OSError:
        return None
    stack = [("", out_dir)]
    while stack:
        within, folder = stack.pop()
        try:
            with os.scandir(folder) as it:
                for e in it:
                    st = e.stat(follow_symlinks=False)
                    if stat.S_ISLNK(st.st_mode):
                        return None
                    path = f"{within}/{e.name}" if within else e.name
                    if stat.S_ISDIR(st.st_mode):
                        stack.append((path, e.path))
                    entries[path] = _numbers(st)
        except OSError:
            return None
    return entries


def update_entries(entries: Entries, out_dir: str, touched: Iterable[str]) -> Entries | None:
    """The entries after a build wrote or removed ``touched`` (paths within the output folder): those and every folder above them looked at again.

    What it does not look at stays as recorded: if anything else changed meanwhile, the digest
    differs from the folder's, and the next rebuild takes the long way, never a wrong shortcut.
    """
    paths = {""}
    for path in touched:
        parts = path.split("/")
        paths.update("/".join(parts[:end]) for end in range(1, len(parts) + 1))
    entries = dict(entries)
    for path in paths:
        try:
            st = os.stat(out_dir) if not path else os.lstat(os.path.join(out_dir, *path.split("/")))
        except FileNotFoundError:
            entries.pop(path, None)
            continue
        except OSError:
            return None
        if stat.S_ISLNK(st.st_mode):
            return None
        entries[path] = _numbers(st)
    return entries


def outputs_digest(out_dir: str, state_file: str, entries: Entries | None = None) -> str | None:
    """The fingerprint of the output folder and of the saved build state (both its files); None when it cannot vouch for them.

    ``entries``, when given, are taken for the folder's (see update_entries) rather than looking at every file again.
    """
    entries = entries if entries is not None else output_entries(out_dir)
    if entries is None:
        return None
    h = hashlib.blake2b(digest_size=16)
    # In order of path, so that entries kept and updated give the same digest as looking afresh.
    paths = sorted(entries)
    for part in ("\0".join(paths).encode("utf-8", "surrogateescape"), repr([entries[p] for p in paths]).encode()):
        h.update(len(part).to_bytes(8, "little"))
        h.update(part)
    try:
        st = os.stat(state_file)
    except OSError:
        return None
    h.update(f"{st.st_ino} {st.st_dev} {st.st_size} {st.st_mtime_ns} {st.st_ctime_ns}".encode())
    try:
        st = os.stat(changes_path(state_file))
        h.update(f" {st.st_ino} {st.st_dev} {st.st_size} {st.st_mtime_ns} {st.st_ctime_ns}".encode())
    except FileNotFoundError:
        h.update(b" no changes")
    except OSError:
        return None
    h.update(code_version().encode())
    return h.hexdigest()


class Fingerprint:
    """What a successful build saves for the shortcut, and what it printed."""

    # A plain class: the data class machinery would cost the shortcut a tenth of its time to import.
    def __init__(self, inputs: str, outputs: str, files: int, warnings: int, diagnostics: str) -> None:
        self.inputs, self.outputs = inputs, outputs
        self.files = files  # output files of the site
        self.warnings = warnings
        self.diagnostics = diagnostics  # as printed

    def dump(self) -> str:
        """The fingerprint as the text of its file."""
        return f"{self.inputs}\n{self.outputs}\n{self.files} {self.warnings}\n{self.diagnostics}"


def changes_path(state_file: str) -> str:
    """Where the changes saved after the snapshot ``state_file`` are kept (see cache.save_state)."""
    return state_file.removesuffix(".pickle") + ".changes"


def fingerprint_path(state_file: str) -> str:
    """Where the fingerprint of the site whose state is ``state_file`` is kept."""
    return state_file.removesuffix(".pickle") + ".unchanged"


def load(path: str) -> Fingerprint | None:
    """The saved fingerprint, if there is a readable one."""
    try:
        with open(path, encoding="utf-8") as f:
            inputs, outputs, counts, diagnostics = f.read().split("\n", 3)
        files, warnings = (int(n) for n in counts.split(" "))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    return Fingerprint(inputs, outputs, files, warnings, diagnostics)


def save(path: str, fingerprint: Fingerprint) -> None:
    """Save a fingerprint atomically; failing costs only the next rebuild's shortcut."""
    temporary = f"{path}.{os.getpid()}.tmp"
    try:
        with open(temporary, "w", encoding="utf-8") as f:
            f.write(fingerprint.dump())
        os.replace(temporary, path)
    except OSError:
        forget(temporary)


def forget(path: str) -> None:
    """Remove a fingerprint (before a build writes anything); it may not be there."""
    try:
        os.remove(path)
    except OSError:
        pass
