"""The content folder on disk: which files count, which are ignored, and reading them safely.

Symbolic links are never followed (an error anywhere under content/), editor droppings are ignored,
and files are read as UTF-8 within the format's size limits before anything parses them.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import re
import stat
from dataclasses import dataclass

import lz4.frame

from .diagnostics import Pos, Report
from .yamlread import position_of

YAML_LIMIT = 1024 * 1024
NARRATIVE_LIMIT = 2 * 1024 * 1024

# Names that editors and operating systems leave beside real files; never content.
_IGNORED = ("*~", "#*#", ".#*", "*.swp", "*.swx", "4913", "*.tmp", ".DS_Store", "Thumbs.db", "__jb_tmp__*", "*___jb_tmp___", "*___jb_old___")


_IGNORED_RE = re.compile("|".join(fnmatch.translate(pattern) for pattern in _IGNORED))


def is_ignored(name: str) -> bool:
    """True for hidden files and editor droppings, which are skipped everywhere."""
    return name.startswith(".") or _IGNORED_RE.match(name) is not None


def display(*parts: str) -> str:
    """A path for diagnostics, with forward slashes whatever the platform."""
    return "/".join(p.replace(os.sep, "/").rstrip("/") for p in parts if p not in ("", "."))


@dataclass(frozen=True)
class Entry:
    """A file or folder found under content/, with its path for messages."""

    name: str
    path: str  # path on disk
    shown: str  # path in diagnostics
    is_dir: bool


def list_dir(path: str, shown: str, report: Report) -> list[Entry]:
    """The entries of a folder, sorted by name, without ignored names; symlinks reported, not listed."""
    try:
        with os.scandir(path) as it:
            raw = sorted(it, key=lambda e: e.name)
    except OSError as exc:
        report.error(Pos(shown), f"cannot read folder: {exc.strerror or exc}")
        return []
    entries = []
    for e in raw:
        if is_ignored(e.name):
            continue
        child = display(shown, e.name)
        try:
            if e.is_symlink():
                report.error(Pos(child), "symbolic links are not allowed under content/ (they are never followed)")
                continue
            is_dir = e.is_dir(follow_symlinks=False)
        except OSError as exc:
            report.error(Pos(child), f"cannot read: {exc.strerror or exc}")
            continue
        entries.append(Entry(e.name, e.path, child, is_dir))
    return entries


def check_tree(path: str, shown: str, report: Report) -> None:
    """Report symbolic links anywhere below a folder whose files are otherwise ignored."""
    for e in list_dir(path, shown, report):
        if e.is_dir:
            check_tree(e.path, e.shown, report)


def read_bytes(path: str, shown: str, limit: int, report: Report) -> bytes | None:
    """A file's bytes within a size limit, never through a symbolic link; None after reporting why not."""
    try:
        st = os.stat(path, follow_symlinks=False)
        if stat.S_ISLNK(st.st_mode):
            report.error(Pos(shown), "symbolic links are not allowed under content/ (they are never followed)")
            return None
        if not stat.S_ISREG(st.st_mode):
            report.error(Pos(shown), "is not a regular file")
            return None
        if st.st_size > limit:
            report.error(Pos(shown), f"the file is {st.st_size} bytes; at most {limit} are allowed")
            return None
        # O_NOFOLLOW: a link swapped in after the stat is refused, not followed; O_NONBLOCK: a
        # named pipe swapped in does not hang the build waiting for a writer (it is refused below).
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                report.error(Pos(shown), "is not a regular file")
                return None
            # As many bytes as the stat said, plus one to notice growth: asking for the limit
            # would allocate (and free) a buffer of megabytes for every file.
            data = f.read(st.st_size + 1)
            if len(data) > st.st_size:  # it grew since the stat: the rest, up to the limit
                data += f.read(limit + 1 - len(data))
    except FileNotFoundError:
        report.error(Pos(shown), "the file is missing (was it removed during the build?)")
        return None
    except OSError as exc:
        report.error(Pos(shown), f"cannot read the file: {exc.strerror or exc}")
        return None
    if len(data) > limit:
        report.error(Pos(shown), f"the file is larger than {limit} bytes")
        return None
    return data


# Far above what a page made from files within the limits above can weigh, far below a machine's memory.
STORED_LIMIT = 64 * 1024 * 1024


def compress(data: bytes) -> bytes:
    """Compress bytes for the build's store: an LZ4 frame that records its size and a checksum of its content.

    LZ4 rather than zlib: a story's kept page and blocks (about 75 KB) took zlib's fastest level
    0.47 ms, most of what storing them cost; LZ4 takes 0.10 ms, for a store a third larger.
    """
    packed: bytes = lz4.frame.compress(data, content_checksum=True, store_size=True)
    return packed


def decompress(data: bytes, limit: int = STORED_LIMIT) -> bytes:
    """Bytes as ``compress`` made them; ``ValueError`` for any that are damaged, cut short or larger than ``limit``.

    A damaged or crafted cache row of a few hundred kilobytes could otherwise inflate to
    gigabytes. (Data that is not bytes at all raises ``TypeError``.)
    """
    try:
        # The size the frame declares, checked before anything is made: lz4 sets aside a buffer
        # as large as it is allowed to fill, so allowing the limit would cost 64 MB per page read.
        size = lz4.frame.get_frame_info(data)["content_size"]
        if not 0 < size <= limit:
            raise ValueError(f"stored data declares {size} bytes: not what this build writes, or larger than the limit")
        inflater = lz4.frame.LZ4FrameDecompressor()
        out: bytes = inflater.decompress(data, max_length=size)
    except RuntimeError as exc:  # how lz4 reports a damaged frame or a wrong checksum
        raise ValueError(f"stored data is damaged: {exc}") from exc
    # A frame that lies about its size stops short of its end, or ends early.
    if not inflater.eof or inflater.unused_data or len(out) != size:
        raise ValueError("stored data is cut short, or not the size it declares")
    return out


def decode(data: bytes, shown: str, report: Report) -> str | None:
    """Bytes as UTF-8 text (a byte-order mark is dropped), or None after reporting the first bad byte."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        good = data[: exc.start].decode("utf-8")
        line, col = position_of(good, len(good))
        report.error(Pos(shown, line, col), f"the file is not UTF-8 (byte 0x{data[exc.start]:02X}); save it as UTF-8")
        return None


def read_text(path: str, shown: str, limit: int, report: Report) -> str | None:
    """A file's text as UTF-8, or None after reporting why it cannot be read."""
    data = read_bytes(path, shown, limit, report)
    return None if data is None else decode(data, shown, report)


def digest(*parts: bytes) -> bytes:
    """A short, collision-resistant digest of some byte strings (their boundaries count)."""
    h = hashlib.blake2b(digest_size=16)
    for part in parts:
        h.update(len(part).to_bytes(8, "little"))
        h.update(part)
    return h.digest()


def key_of(*values: object) -> bytes:
    """The digest of some values through their repr, which is deterministic for the model's frozen data."""
    return digest(repr(values).encode("utf-8", "surrogatepass"))


def output_path(out_dir: str, rel: str) -> str:
    """Where an output path (slash-separated, checked to stay inside) is under ``out_dir`` (the output folder, or a staging one)."""
    # Plain concatenation where "/" is the separator: a rebuild looks up every output of the site,
    # and os.path.join of the split path costs twice as much as the stat it is for.
    return f"{out_dir}/{rel}" if os.sep == "/" else os.path.join(out_dir, *rel.split("/"))


def stat_signature(path: str) -> tuple[int, ...] | None:
    """What changes whenever a file's bytes may have: its inode, size, and modification and change times.

    The change time (ctime) is set by the kernel on every write and cannot be set back by tools, so
    equal signatures mean the bytes read last time are still the file's bytes.
    """
    try:
        st = os.stat(path, follow_symlinks=False)
    except OSError:
        return None
    return signature_of(st)


def signature_of(st: os.stat_result) -> tuple[int, ...]:
    """The stat signature (see stat_signature) of a file already stat-ed."""
    return (st.st_ino, st.st_dev, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_mode)
