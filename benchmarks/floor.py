"""What the parts any build of these stories must run cost on this machine, with none of our code.

The speed targets leave a budget; this prints how much of it is spent before our design does
anything: starting Python with the mandated libraries, PyYAML's events for every facts file (the
least a located, strict reading needs), markdown-it-py rendering every narrative, and the file
system creating the folders and files the spec's output layout asks for. Each figure is the
smallest of ``--repeat`` runs of one process, in wall seconds like the build times of
``compare.py``; this project's own cold build of the same stories is timed last, in the same run,
for comparison. Old outputs are moved aside, never deleted, before a timed run (see ``trash.py``).

    python -m benchmarks.floor [--stories 1000] [--repeat 3] [--work DIR] [--settle SECONDS]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import yaml
from markdown_it import MarkdownIt

from .generate import generate
from .trash import Trash

ROOT = Path(__file__).resolve().parent.parent
# The sizes of a built story's two files (index.html, facts.json) in the generated site: about these.
PAGE_BYTES, DATA_BYTES = 39_000, 13_500


def smallest(repeat: int, work: Callable[[], object], prepare: Callable[[], object] = lambda: None) -> float:
    """The least wall time that ``work`` took over ``repeat`` runs, each after ``prepare`` (not timed)."""
    best = float("inf")
    for _ in range(repeat):
        prepare()
        started = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - started)
    return best


def run_python(*arguments: str, cwd: Path | None = None) -> None:
    """Run a fresh Python (this one) with these arguments, quietly; an error stops the benchmark."""
    subprocess.run([sys.executable, *arguments], cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


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
    """Read the options, measure, and delete what was moved aside once nothing more is timed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stories", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--work", default=str(ROOT / "build" / "floor"), help="where the stories are generated (default build/floor)")
    parser.add_argument("--settle", type=float, default=61, help="seconds to wait after deleting a previous run's files (default 61; see trash.py)")
    args = parser.parse_args()
    work = Path(args.work)
    trash = Trash(work.with_name(work.name + "-trash"), args.settle)
    try:
        measure(args, work, trash)
    finally:
        trash.discard()  # nothing more is measured


def measure(args: argparse.Namespace, work: Path, trash: Trash) -> None:
    """Generate the stories, time each part, print the table."""
    trash.empty(wait=False)  # what a stopped run left, before anything is timed
    trash.put(work)  # the previous run's stories and outputs
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

    def layout() -> None:
        write_layout(work / "out", n)

    def cold_build() -> None:
        run_python(str(ROOT / "build.py"), "build", "--templates", str(ROOT / "templates"), cwd=work)

    rows = [
        ("Python started, nothing imported", smallest(args.repeat, lambda: run_python("-c", "pass"))),
        ("Python started, jinja2 + markdown_it + yaml imported", smallest(args.repeat, lambda: run_python("-c", "import jinja2, markdown_it, yaml"))),
        (f"PyYAML (libyaml) events of {n} facts files", smallest(args.repeat, events)),
        (f"markdown-it-py rendering {n} narratives", smallest(args.repeat, render)),
        (f"{n} folders of 2 files created (the output layout)", smallest(args.repeat, layout, lambda: trash.put(work / "out"))),
    ]
    trash.put(work / "out")

    def cold() -> None:  # no output, no cache
        trash.put(work / "site")
        trash.put(work / ".cache")

    ours = smallest(args.repeat, cold_build, cold)
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
