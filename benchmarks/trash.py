"""Where the benchmarks put old outputs, so that no build is timed just after a mass deletion.

On a file system like the reference machine's (ext4 without a journal), creating a file steps,
one by one, over every inode freed in the last minute (six minutes while the freed inodes' table
is not yet written back; a flush brings that down to the minute). A cold build of 1000 stories
right after deleting the previous site spent 2 to 6 s more in the kernel than one after moving it
aside. A tool's cold build would pay for the cleaning before it, and each tool for the deletions
of the one measured before it. So cleaning only renames into the trash, and the trash is emptied
between measurements, followed by a flush and a pause long enough for the file system to stop
stepping over what was freed.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path


class Trash:
    """A folder of old outputs, emptied only between measurements (it must be on the outputs' file system)."""

    def __init__(self, folder: Path, settle: float) -> None:
        self.folder = folder
        self.settle = settle

    def put(self, path: Path) -> None:
        """Move a file or folder into the trash: a rename, so nothing is freed."""
        if os.path.lexists(path):
            self.folder.mkdir(parents=True, exist_ok=True)
            # A folder of its own, never an existing name: a rename onto a file would free it.
            holder = tempfile.mkdtemp(dir=self.folder)
            os.rename(path, os.path.join(holder, path.name))

    def empty(self, wait: bool = True) -> None:
        """Delete what the trash holds, flush the disk and wait ``settle`` seconds (when ``wait``, or anything was deleted)."""
        deleted = self.folder.exists()
        self.discard()
        os.sync()
        if self.settle > 0 and (wait or deleted):
            print(f"  (waiting {self.settle:.0f} s for the file system to settle after deleting)", file=sys.stderr, flush=True)
            time.sleep(self.settle)

    def discard(self) -> None:
        """Delete what the trash holds, without waiting: when nothing more is measured."""
        shutil.rmtree(self.folder, ignore_errors=True)
