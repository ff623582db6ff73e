"""The only code that touches the output folder: files are written elsewhere, then put in place.

A new site is written whole beside the output folder, then swapped in: readers and the preview
server see the old site or the new one, never a mix (on Linux the two folders are exchanged in one
``renameat2(RENAME_EXCHANGE)`` call; elsewhere two renames leave a moment with no folder, never a
half-written one). A rebuild writes its changed files beside it too, then renames each over its
own, new files first: a reader gets each page old or new, never torn, and never a page whose
links are missing. Leftovers of a killed build are cleaned next time.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import signal
import tempfile
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

from .files import output_path

if TYPE_CHECKING:
    from concurrent.futures import Executor, ThreadPoolExecutor

MARKER = ".explainer-output"
_MARKER_TEXT = b"This folder is generated; it is replaced whole by every build.\n"
_STAGING = ".{}.new-"
_OLD = ".{}.old-"


class OutputError(Exception):
    """The output folder cannot be written or replaced safely."""


def safe_relative(path: str) -> bool:
    """True for a relative output path that stays inside the output folder."""
    parts = path.split("/")
    return bool(path) and not path.startswith("/") and "\\" not in path and all(p not in ("", ".", "..") for p in parts)


def _exchange(a: str, b: str) -> bool:
    """Atomically swap two paths (Linux renameat2); False when the system cannot."""
    import ctypes  # imported here, like the thread pool below: a build that writes nothing never needs them

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    return False


_LOCKS: set[int] = set()  # descriptors of the output locks this process holds


def _forget_locks() -> None:
    # A forked worker inherits the parent's descriptors, and with them the lock: a worker that
    # outlived its build would keep every later build waiting. Closing them frees only its copy.
    for fd in _LOCKS:
        os.close(fd)
    _LOCKS.clear()


os.register_at_fork(after_in_child=_forget_locks)


@contextlib.contextmanager
def output_lock(out_dir: str, waiting: Callable[[], None] = lambda: None) -> Iterator[None]:
    """Let one process at a time write an output folder (``build`` while the preview runs, say).

    The lock (flock) is taken on the folder that holds the output folder, so no lock file is ever
    left behind, and the system releases it when its process ends, however it ends.
    """
    import fcntl

    parent = os.path.dirname(os.path.abspath(out_dir))
    os.makedirs(parent, exist_ok=True)
    fd = os.open(parent, os.O_RDONLY | os.O_CLOEXEC)
    _LOCKS.add(fd)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            waiting()
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        _LOCKS.discard(fd)
        os.close(fd)


def clean_leftovers(out_dir: str) -> None:
    """Remove staging and old folders that a killed build left beside the output folder."""
    parent, name = os.path.split(os.path.abspath(out_dir))
    try:
        entries = os.listdir(parent)
    except OSError:
        return
    for entry in entries:
        if entry.startswith(_STAGING.format(name)) or entry.startswith(_OLD.format(name)):
            remove_tree(os.path.join(parent, entry))


def check_replaceable(out_dir: str) -> None:
    """Refuse to replace a folder that is not ours: an empty folder or an earlier output only."""
    if not os.path.lexists(out_dir):
        return
    if os.path.islink(out_dir) or not os.path.isdir(out_dir):
        raise OutputError(f"{out_dir} exists and is not a folder")
    if os.listdir(out_dir) and not os.path.exists(os.path.join(out_dir, MARKER)):
        raise OutputError(f"{out_dir} is not empty and was not written by this generator; refusing to replace it")


# Creating a file or folder waits on the file system far longer than it uses the CPU (about half a
# millisecond each on some virtual disks), and the waits overlap across threads: a site of a few
# thousand files is written and removed several times faster by a handful of threads.
THREADS = 8


def _each(work: Callable[[str], object], items: Iterable[str], pool: Executor | None = None, alone: bool = False) -> None:
    """``work`` on every item, on a few threads (``alone``: here, one by one); the first failure is raised.

    On threads of its own, the failure is raised once every item is done. With ``pool``, it is
    raised at once and the items not started are dropped, while up to ``THREADS`` may still be
    running: the caller must shut the pool down before it touches what they write (StagedSite
    does, in ``abort``).
    """
    items = list(items)
    if pool is not None:
        for _ in pool.map(work, items):
            pass
        return
    if alone or len(items) <= 4 * THREADS:  # starting the threads would cost more than they save
        failure: BaseException | None = None
        for item in items:
            try:
                work(item)
            except Exception as exc:
                failure = failure or exc
        if failure is not None:
            raise failure
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(THREADS) as own:
        for _ in own.map(work, items):
            pass


def _make_folders(root: str, rels: Iterable[str], pool: Executor | None = None, alone: bool = False) -> None:
    """Create the folders that will hold these files, parents before children."""
    folders: set[str] = set()
    for rel in rels:
        parts = rel.split("/")[:-1]
        folders.update("/".join(parts[:i]) for i in range(1, len(parts) + 1))
    by_depth: dict[int, list[str]] = {}
    for folder in folders:
        by_depth.setdefault(folder.count("/"), []).append(folder)
    for depth in sorted(by_depth):
        # Looking is far cheaper than a mkdir that fails: most folders of a rebuild already exist.
        missing = [f for f in sorted(by_depth[depth]) if not os.path.isdir(output_path(root, f))]
        _each(lambda f: os.makedirs(output_path(root, f), exist_ok=True), missing, pool, alone)


def remove_tree(path: str) -> None:
    """Remove a folder and everything in it (never following links), files on several threads; errors are ignored."""
    files: list[str] = []
    folders: list[str] = []
    for folder, dirs, names in os.walk(path):
        folders.append(folder)
        files.extend(os.path.join(folder, n) for n in names)
        files.extend(os.path.join(folder, d) for d in dirs if os.path.islink(os.path.join(folder, d)))

    def unlink(name: str) -> None:
        try:
            os.unlink(name)
        except OSError:
            pass

    _each(unlink, files)
    shutil.rmtree(path, ignore_errors=True)  # now only empty folders: quick


# Fewer files than this are removed at once: starting a process to do it would cost more.
_MEANWHILE_FROM = 64


def _worth_a_child(files: int | None) -> bool:
    """Whether removing this many files (None: not counted) is left to a child process."""
    return hasattr(os, "fork") and (files is None or files >= _MEANWHILE_FROM)


def remove_meanwhile(path: str, files: int | None = None) -> Callable[[], None]:
    """Start removing a folder of ``files`` files (None: not counted); the function returned waits until it is gone.

    On some disks freeing a file costs more than anything else about replacing it (about 0.1 ms
    for a page of 50 KB on a virtual disk mounted with ``discard``), and the kernel does that work
    in the process that removes it: a child process frees the files while this one goes on
    (saving what the build learnt). A thread would not overlap it, as it waits for the GIL between
    removals. A few files, or a system that cannot fork, are removed here and now.
    """
    if not _worth_a_child(files):
        remove_tree(path)
        return lambda: None
    try:
        pid = os.fork()
    except OSError:
        remove_tree(path)
        return lambda: None
    if pid == 0:  # the child: remove, and leave at once, running nothing of the parent's (no atexit, no flush)
        try:
            # Ctrl-C in the terminal reaches the child too: the build it belongs to decides.
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            remove_tree(path)
        finally:
            os._exit(0)

    def wait() -> None:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
        if os.path.lexists(path):  # the child died before it was done (killed, out of memory)
            remove_tree(path)

    return wait


class StagedSite:
    """Files of a site written one by one into a staging folder beside the output, then put in place.

    Files may be added while the build is still running, by the worker processes that made them,
    so a large site never has to be held in memory whole or copied between processes. Nothing
    reaches the output folder before ``commit`` (the staging folder becomes the whole site, at
    once) or ``put_in_place`` (each staged file replaces its own, the rest of the site stays), and
    ``abort`` leaves no trace.
    """

    def __init__(self, out_dir: str, whole: bool = True, meanwhile: bool = False) -> None:
        self.out_dir = os.path.abspath(out_dir)
        self.parent, self.name = os.path.split(self.out_dir)
        os.makedirs(self.parent, exist_ok=True)
        # A site expected to replace the folder whole is staged as the folder it becomes; one
        # expected to change part of it, flat (no folder to make, nor to remove after).
        # Replacing the folder whole needs it to be ours: checked here, or in ``commit`` if it comes to that.
        self.whole = whole
        # With ``meanwhile``, what the new site replaces is removed by a child process while the
        # caller goes on, until ``finish`` (only for a process with no threads of its own: the command line).
        self.meanwhile = meanwhile
        if whole:
            check_replaceable(self.out_dir)
        clean_leftovers(self.out_dir)
        self.staging = tempfile.mkdtemp(prefix=_STAGING.format(self.name), dir=self.parent)
        # One set of threads for every large batch the build's own process adds (a first build
        # with one worker adds some forty): starting threads for each would cost more than their
        # waits overlap. Workers write theirs one by one.
        self._pool: ThreadPoolExecutor | None = None
        self._pid = os.getpid()
        self.finished = False  # committed, put in place or aborted: nothing left to undo
        self._removing: Callable[[], None] = lambda: None  # waits for the removal of what the new site replaced

    def _threads(self) -> ThreadPoolExecutor | None:
        if os.getpid() != self._pid:
            # A forked worker writing its own stories' pages: the threads stayed with the process
            # that made them, and the other workers write at the same time anyway.
            return None
        if self._pool is None:
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(THREADS)
        return self._pool

    def _stop_threads(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    def _staged(self, rel: str) -> str:
        """Where an output file is staged."""
        if self.whole:
            return output_path(self.staging, rel)
        # Flat: the path with its slashes escaped, a name no other path has (workers write at the
        # same time without agreeing on names); a digest where that would be too long a name.
        name = rel.replace("%", "%25").replace("/", "%2F").replace("#", "%23")
        if len(name.encode("utf-8", "surrogateescape")) > 200:
            name = "#" + hashlib.blake2b(rel.encode("utf-8", "surrogateescape"), digest_size=20).hexdigest()
        return os.path.join(self.staging, name)

    def add(self, files: dict[str, bytes]) -> None:
        """Write some files of the new site (in this process, or in a worker forked from it)."""
        try:
            for rel in files:
                if not safe_relative(rel):
                    raise OutputError(f"refusing to write outside the output folder: {rel!r}")
            # A few files (a story edited) are written here one by one: not worth starting threads.
            threads = self._threads() if len(files) > 4 * THREADS else None
            if self.whole:
                _make_folders(self.staging, files, threads, alone=threads is None)

            def write(rel: str) -> None:
                with open(self._staged(rel), "wb") as f:
                    f.write(files[rel])

            _each(write, sorted(files), threads, alone=threads is None)
        except BaseException:
            if os.getpid() == self._pid:  # a worker's failure reaches this process, which then aborts
                self.abort()
            raise

    def commit(self, staged: Iterable[str] = ()) -> None:
        """Put the new site in place of the output folder, in one step (``staged``: its files, when staged flat)."""
        self._stop_threads()
        staging, out_dir = self.staging, self.out_dir
        try:
            if not self.whole:
                # Expected to change part of the folder, the build kept nothing of it after all
                # (the folder was removed, say): its files are put in the folders they belong in.
                check_replaceable(out_dir)
                flat = {rel: self._staged(rel) for rel in staged}
                _make_folders(staging, flat)
                for rel, path in flat.items():
                    os.rename(path, output_path(staging, rel))
            with open(os.path.join(staging, MARKER), "wb") as f:
                f.write(_MARKER_TEXT)
            os.chmod(staging, 0o755)  # mkdtemp makes it private; a published site must be readable
            if not os.path.exists(out_dir):
                os.rename(staging, out_dir)
                self.finished = True
                return
            if _exchange(staging, out_dir):
                self.finished = True
                self._remove(staging)  # now holds the previous site
                return
            old = tempfile.mkdtemp(prefix=_OLD.format(self.name), dir=self.parent)
            os.rmdir(old)
            os.rename(out_dir, old)
            try:
                os.rename(staging, out_dir)
            except BaseException:
                os.rename(old, out_dir)  # put the previous site back
                raise
            self.finished = True
            self._remove(old)
        except BaseException:
            self.abort()
            raise

    def put_in_place(self, staged: Iterable[str], remove: set[str]) -> None:
        """Move the staged files (these paths) over their places in the output folder, then remove ``remove``.

        For a rebuild that changes part of a site: the output folder keeps every other file.
        """
        self._stop_threads()
        staged = {rel: self._staged(rel) for rel in staged}
        # Links keeping the replaced files are worth making only for a child to free them later.
        keep = self.meanwhile and _worth_a_child(len(staged) + len(remove))
        try:
            _put_in_place(self.out_dir, self.staging, staged, remove, keep_replaced=keep)
        except BaseException:
            self.abort()
            raise
        self.finished = True
        self._remove(self.staging, len(staged) + len(remove))  # by now, only what the new files replaced

    def _remove(self, folder: str, files: int | None = None) -> None:
        """Remove a folder the site no longer needs: at once, or ``meanwhile``."""
        if self.meanwhile:
            self._removing = remove_meanwhile(folder, files)
        else:
            remove_tree(folder)

    def finish(self) -> None:
        """Wait until what the new site replaced is removed (see ``meanwhile``)."""
        self._removing()
        self._removing = lambda: None

    def abort(self) -> None:
        """Forget the new site; the output folder is as it was (once the site is in place, only wait for what it replaced to go)."""
        self._stop_threads()
        if not self.finished:
            self.finished = True
            remove_tree(self.staging)
        self.finish()


def write_site(out_dir: str, files: dict[str, bytes]) -> None:
    """Put a complete site in place of ``out_dir`` at once."""
    staged = StagedSite(out_dir)
    staged.add(files)
    staged.commit()


def _put_in_place(out_dir: str, staging: str, staged: dict[str, str], remove: set[str], keep_replaced: bool = False) -> None:
    """Move written files (output path -> where it was written, in ``staging``) over their targets, then remove ``remove``.

    Each move is a rename on one file system, so a reader gets the old file or the new one, never
    a torn one. With ``keep_replaced``, replaced and removed files are moved into ``staging``.
    """
    for rel in staged:
        if not safe_relative(rel):
            raise OutputError(f"refusing to write outside the output folder: {rel!r}")
    _make_folders(out_dir, staged)
    # What is kept of replaced and removed files goes under names that start with "#" and a word:
    # no staged file has such a name (flat names escape "#"; a digest name is "#" and hex only).
    aside = iter(range(len(staged) + len(remove)))

    def replace(rel: str) -> None:
        temporary = staged[rel]
        target = output_path(out_dir, rel)
        if keep_replaced:  # a second link keeps the old file's blocks until later (a new file has none)
            # Only a saving: where a link cannot be made (a file system without them, a file of
            # another user's under protected_hardlinks), the rename frees the old file itself.
            with contextlib.suppress(OSError):
                os.link(target, os.path.join(staging, f"#old-{next(aside)}"), follow_symlinks=False)
        os.replace(temporary, target)

    # Files that are new (a story's page, a stylesheet under its new hashed name) go in before
    # the pages that link to them are replaced, and old files go only after: a reader meanwhile
    # may see an old page or a new one, but never one whose links or style are missing.
    new: list[str] = []
    existing: list[str] = []
    for rel in sorted(staged):
        (existing if os.path.lexists(output_path(out_dir, rel)) else new).append(rel)
    # One by one: a rename waits on nothing that threads could overlap (measured: threads were
    # slower, on a tmpfs and on a virtual disk alike).
    for rel in (*new, *existing):
        replace(rel)
    # A new marker (a new inode) tells the preview that someone has written here (cache.py).
    marker = os.path.join(staging, MARKER)
    with open(marker, "wb") as f:
        f.write(_MARKER_TEXT)
    os.replace(marker, os.path.join(out_dir, MARKER))
    for number, rel in enumerate(sorted(remove)):
        if not safe_relative(rel):
            continue
        target = output_path(out_dir, rel)
        try:
            if keep_replaced:
                os.rename(target, os.path.join(staging, f"#gone-{number}"))
            else:
                os.remove(target)
            os.removedirs(os.path.dirname(target))  # drops folders left empty, stops at the first that is not
        except OSError:
            pass


def update_site(out_dir: str, files: dict[str, bytes], remove: set[str], keep_replaced: bool = False) -> str | None:
    """Write changed files into an output folder that holds the rest of the site, and remove ``remove``.

    For the preview's rebuilds, whose files are all made in its own process (``build`` stages
    its files as they are made instead: StagedSite): each file is written into a staging folder
    beside the output and renamed over its target, so a reader gets the old file or the new one,
    never a torn one; new files go first, removals last.

    With ``keep_replaced``, the files replaced or removed are moved aside into a hidden folder
    beside the output, whose path is returned for the caller to remove (``remove_tree``) once
    the new site has been announced: on some disks, freeing a file is most of replacing it.
    """
    out_dir = os.path.abspath(out_dir)
    parent, name = os.path.split(out_dir)
    clean_leftovers(out_dir)
    # New files are written in a staging folder beside the output (the same file system, so the
    # renames are atomic); a build killed meanwhile leaves that folder, which the next one removes.
    staging = tempfile.mkdtemp(prefix=_STAGING.format(name), dir=parent)
    try:
        # Written under numbers, so checked for a path outside the folder only before the renames.
        numbered = {rel: os.path.join(staging, str(number)) for number, rel in enumerate(sorted(files))}

        def write(rel: str) -> None:
            with open(numbered[rel], "wb") as f:
                f.write(files[rel])

        _each(write, numbered)
        _put_in_place(out_dir, staging, numbered, remove, keep_replaced)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if keep_replaced:
        return staging
    shutil.rmtree(staging, ignore_errors=True)
    return None
