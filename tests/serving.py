"""Helpers to run the preview server as a real process and drive it with Debian's Chromium."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .conftest import ROOT

CHROMIUM = os.environ.get("CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]


class Preview:
    """A running `build.py serve` process."""

    def __init__(self, process: subprocess.Popen[str], url: str) -> None:
        self.process = process
        self.url = url

    def stop(self) -> int:
        """Ctrl-C, as an author would; the exit status."""
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout=10)


@contextmanager
def preview_server(site_root: Path, *extra: str) -> Iterator[Preview]:
    """Start the preview on a free port for the site under ``site_root``; stop it afterwards."""
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "build.py"), "serve", "--port", "0", "--content", "content",
         "--templates", "templates", "--out", "site", *extra],
        cwd=site_root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1,
    )
    assert process.stdout is not None
    deadline = time.monotonic() + 30
    url = None
    seen = []
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        seen.append(line)
        m = re.search(r"at (http://127\.0\.0\.1:\d+/)", line)
        if m:
            url = m.group(1)
            break
    assert url, "the preview did not start: " + "".join(seen)
    # Keep reading its output so the pipe never fills up and blocks the server.
    drain = __import__("threading").Thread(target=lambda: [None for _ in process.stdout], daemon=True)  # type: ignore[union-attr]
    drain.start()
    preview = Preview(process, url)
    try:
        yield preview
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def save(path: Path, text: str) -> None:
    """Write a file the way an editor does: the whole content at once."""
    path.write_text(text, encoding="utf-8")
