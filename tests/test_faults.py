"""Faults lose nothing: builds killed at random moments, and readers of the preview during rebuilds."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from benchmarks.generate import generate
from explainer.builder import build

from .conftest import ROOT, TEMPLATES, snapshot
from .serving import preview_server


def builds_in(folder: Path) -> list[int]:
    """The processes (builds and their workers) running in a folder."""
    found = []
    for entry in os.listdir("/proc"):
        try:
            if entry.isdigit() and os.readlink(f"/proc/{entry}/cwd") == str(folder):
                found.append(int(entry))
        except OSError:
            continue  # gone meanwhile, or not ours to look at
    return found


@pytest.mark.parametrize("cache", ["--no-cache", "--cache=.cache"])
def test_sigkill_during_builds_leaves_the_previous_or_the_new_site(tmp_path: Path, cache: str) -> None:
    """Without a cache the whole folder is swapped: the old site or the new one. With the cache only
    changed files are replaced, each atomically: every file is its old or its new version. Either
    way the next build completes the new site and clears what the killed ones left."""
    generate(str(tmp_path), 60, seed=3)
    shutil.copytree(TEMPLATES, tmp_path / "templates")
    facts = tmp_path / "content/stories/story-00007/facts.yaml"
    original = facts.read_text()
    versions = [original, original.replace("headline: ", 'headline: "Version B: ', 1).replace('"Version B: "', '"Version B: ', 1)]
    expected = []
    for text in versions:
        facts.write_text(text)
        expected.append({k: v for k, v in build(str(tmp_path / "content"), str(tmp_path / "templates")).files.items()})
    assert expected[0] != expected[1]
    command = [sys.executable, str(ROOT / "build.py"), "build", "--content", "content", "--templates", "templates", "--out", "site", cache]
    facts.write_text(versions[0])
    subprocess.run(command, cwd=tmp_path, check=True, capture_output=True)
    rng = random.Random(20)
    current = 0
    for _ in range(20):
        target = 1 - current
        facts.write_text(versions[target])
        process = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.05, 1.5))
        process.send_signal(signal.SIGKILL)
        process.wait()
        on_disk = snapshot(tmp_path / "site", skip_marker=True)
        if cache == "--no-cache":
            assert on_disk in (expected[current], expected[target])
            current = expected.index(on_disk)
        else:
            assert set(on_disk) == set(expected[0])
            assert all(on_disk[path] in (expected[0][path], expected[1][path]) for path in on_disk)
            current = expected.index(on_disk) if on_disk in expected else current
    # No worker of a killed build lives on (it would hold the output folder's lock, and memory).
    deadline = time.monotonic() + 5
    while builds_in(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert builds_in(tmp_path) == []
    # The next build completes and leaves nothing of the killed ones behind.
    subprocess.run(command, cwd=tmp_path, check=True, capture_output=True, timeout=120)
    assert sorted(os.listdir(tmp_path)) == (["content", "site", "templates"] if cache == "--no-cache" else [".cache", "content", "site", "templates"])
    assert snapshot(tmp_path / "site", skip_marker=True) == expected[target]


def test_readers_see_whole_pages_through_fifty_rebuilds(tmp_path: Path) -> None:
    generate(str(tmp_path), 20, seed=5)
    shutil.copytree(TEMPLATES, tmp_path / "templates")
    facts = tmp_path / "content/stories/story-00003/facts.yaml"
    original = facts.read_text()
    pages = ["", "story-00003/", "story-00004/", "topics/", "sources/", "feed.xml"]
    problems: list[str] = []
    reads = [0]
    stop = threading.Event()
    with preview_server(tmp_path) as server:

        def reader(seed: int) -> None:
            rng = random.Random(seed)
            while not stop.is_set():
                path = rng.choice(pages)
                try:
                    with urllib.request.urlopen(server.url + path, timeout=10) as response:
                        body = response.read()
                        length = response.headers.get("Content-Length")
                except (urllib.error.URLError, OSError) as exc:
                    problems.append(f"{path}: {exc}")
                    continue
                end = b"</feed>\n" if path.endswith(".xml") else b"</html>\n"
                if not body.endswith(end) or (length is not None and int(length) != len(body)):
                    problems.append(f"{path}: torn body of {len(body)} bytes")
                reads[0] += 1

        threads = [threading.Thread(target=reader, args=(i,)) for i in range(3)]
        for t in threads:
            t.start()
        for i in range(50):
            facts.write_text(original.replace("headline: ", f'headline: "Rebuild {i} ', 1).replace(f'"Rebuild {i} "', f'"Rebuild {i} ', 1))
            time.sleep(0.12)
        time.sleep(0.5)
        stop.set()
        for t in threads:
            t.join(timeout=20)
        assert server.stop() == 0
    assert problems == []
    assert reads[0] > 100
