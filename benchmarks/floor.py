"""What the parts any build of these stories must run cost on this machine, with none of our code.

The speed targets leave a budget; this prints how much of it is spent before our design does
anything: starting Python with the mandated libraries, PyYAML's events for every facts file (the
least a located, strict reading needs), markdown-it-py rendering every narrative, and the file
system creating the folders and files the spec's output layout asks for. Each figure is the
smallest of ``--repeat`` runs of one process, in wall seconds like the build times of
``compare.py``; this project's own cold build of the same stories is timed last, in the same run,
for comparison.

    python -m benchmarks.floor [--stories 1000] [--repeat 3] [--work DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import yaml
from markdown_it import MarkdownIt

from .generate import generate

ROOT = Path(__file__).resolve().parent.parent
# The sizes of a built story's two files (index.html, facts.json) in the generated site: about these.
PAGE_BYTES, DATA_BYTES = 39_000, 13_500


def smallest(repeat: int, work: Callable[[], object]) -> float:
    """The least wall time that ``work`` took here, in this one process, over ``repeat`` runs."""
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - started)
    return best


def start_seconds(repeat: int, code: str) -> float:
    """The least wall time of a fresh Python running ``code`` (the interpreter's start included)."""
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        best = min(best, time.perf_counter() - started)
    return best


def build_seconds(repeat: int, work: Path) -> float:
    """The least wall time of this project's cold build of the generated stories (no output, no cache)."""
    best = float("inf")
    for _ in range(repeat):
        for leftover in ("site", ".cache"):
            shutil.rmtree(work / leftover, ignore_errors=True)
        started = time.perf_counter()
        command = [sys.executable, str(ROOT / "build.py"), "build", "--templates", str(ROOT / "templates")]
        subprocess.run(command, cwd=work, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        best = min(best, time.perf_counter() - started)
    return best


def write_layout(root: Path, stories: int) -> None:
    """Create ``stories`` folders of two files each, as a build's output holds, one after another."""
    page, data = b"x" * PAGE_BYTES, b"x" * DATA_BYTES
    root.mkdir()
    for i in range(stories):
        folder = root / f"story-{i:05d}"
        folder.mkdir()
        (folder / "index.html").write_bytes(page)
        (folder / "facts.json").write_bytes(data)


def main() -> None:
    """Generate the stories, time each part, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stories", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--work", default=str(ROOT / "build" / "floor"), help="where the stories are generated (default build/floor)")
    args = parser.parse_args()
    work = Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    generate(str(work), args.stories)
    folders = sorted((work / "content" / "stories").iterdir())
    facts = [(f / "facts.yaml").read_text(encoding="utf-8") for f in folders]
    narratives = [(f / "explainer.md").read_text(encoding="utf-8") for f in folders]
    n = len(folders)

    # Events are counted, not kept: holding every story's events at once would time the garbage
    # collector walking them, which no build does.
    def events() -> None:
        for text in facts:
            for _ in yaml.parse(text, Loader=yaml.CSafeLoader):
                pass

    markdown = MarkdownIt()

    def render() -> None:
        for text in narratives:
            markdown.render(text)

    def files() -> None:
        out = work / "out"
        shutil.rmtree(out, ignore_errors=True)
        write_layout(out, n)

    rows = [
        ("Python started, nothing imported", start_seconds(args.repeat, "pass")),
        ("Python started, jinja2 + markdown_it + yaml imported", start_seconds(args.repeat, "import jinja2, markdown_it, yaml")),
        (f"PyYAML (libyaml) events of {n} facts files", smallest(args.repeat, events)),
        (f"markdown-it-py rendering {n} narratives", smallest(args.repeat, render)),
        (f"{n} folders of 2 files created (the output layout)", smallest(args.repeat, files)),
    ]
    shutil.rmtree(work / "out", ignore_errors=True)
    ours = build_seconds(args.repeat, work)
    print(f"# The floor under a build of {n} stories, smallest of {args.repeat} runs\n")
    print("| part | seconds | per story |")
    print("| --- | ---: | ---: |")
    for label, seconds in rows:
        each = f"{1000 * seconds / n:.2f} ms" if not label.startswith("Python") else ""
        print(f"| {label} | {seconds:.2f} | {each} |")
    parallel = sum(seconds for label, seconds in rows[2:])
    floor = rows[1][1] + parallel / (os.cpu_count() or 1)
    print(f"\nThe three parts a cold build cannot skip, spread over {os.cpu_count()} cores, plus the start: "
          f"{floor:.2f} s, before any template is rendered or any claim checked.")
    print(f"This project's cold build of the same stories, in the same run: {ours:.2f} s ({ours / floor:.1f}× that floor).")


if __name__ == "__main__":
    main()
