"""Spread independent work over the machine's cores with forked worker processes.

Forking lets the workers start with everything the parent has already prepared (the parsed site
settings, the compiled templates, the previous build's state) without pickling any of it; only
each chunk's small inputs and its results cross between processes.
"""

from __future__ import annotations

import gc
import os
import signal
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

# Fewer items than this per worker are done in this process: starting workers costs more.
CHUNK = 24


def cores() -> int:
    """How many cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _follow_parent(parent: int) -> None:
    """In a worker: end when the build that started it ends, even when it is killed outright.

    Otherwise a build killed with SIGKILL leaves its workers waiting for work forever, holding
    what they inherited (among it the lock on the output folder).
    """
    try:
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
    except (OSError, AttributeError):
        pass  # not Linux: the pool's own checks have to do
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)


def run_chunks(work: Callable[[list[T]], R], items: Sequence[T], jobs: int, before_fork: Callable[[], None] | None = None) -> Iterator[tuple[int, R]]:
    """``work`` over consecutive chunks of the items, in order: yields (items done so far, result).

    With ``jobs`` > 1 and enough items, chunks run in forked processes; otherwise here. ``work``
    must be a module-level function; it sees the parent's memory as it was when the pool started.
    ``before_fork`` is called first, when there are processes to start (to close what must not
    cross a fork).
    """
    chunks = [list(items[i:i + CHUNK]) for i in range(0, len(items), CHUNK)]
    done = 0
    if jobs > 1 and len(chunks) > 1:
        # Imported only when used: a rebuild that changes a story or two never starts a process.
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        if "fork" in multiprocessing.get_all_start_methods():
            if before_fork is not None:
                before_fork()
            # Workers inherit every object the parent holds; frozen, they are never scanned by a
            # worker's garbage collector (and their pages are not copied by it either).
            gc.freeze()
            workers = min(jobs, len(chunks))
            context = multiprocessing.get_context("fork")
            with ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_follow_parent, initargs=(os.getpid(),)) as pool:
                for chunk, result in zip(chunks, pool.map(work, chunks), strict=True):
                    done += len(chunk)
                    yield done, result
            return
    for chunk in chunks:
        result = work(chunk)
        done += len(chunk)
        yield done, result
