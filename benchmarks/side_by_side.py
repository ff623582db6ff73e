"""This project's code against an earlier commit's, one rebuild of each in turn, in the same minutes.

A change worth a few per cent is lost in this machine's swings from hour to hour, so a change is
measured against the code before it, alternating, rather than against a full run of another
hour. Two things made such pairs lie before, and this script rules both out:

- Both trees are compiled first. A fresh checkout has no bytecode and, where
  ``PYTHONDONTWRITEBYTECODE`` is set (as on the reference machine), compiles every module on
  every run: 30-50 ms that the working tree, compiled, does not pay.
- The two codes build two copies of the same generated site, and swap copies half-way. On a
  disk without a journal, each copy's own history of freed files changes how long creating
  files in it takes, by more than most changes save.

    python -m benchmarks.side_by_side COMMIT [--scenario template] [--stories 1000] [--pairs 8]

Each pair edits both copies the same way (the base template, or one story's text, or moves the
output and cache aside for a cold build, or changes nothing) and times one fresh ``build.py build`` of each, the
order alternating. It prints every time and the medians, for each half and in all.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from .compare import append, replace_once
from .generate import generate
from .trash import Trash

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ("template", "story", "cold", "none")


def checkout(commit: str, where: Path) -> Path:
    """The code of ``commit`` in a detached worktree at ``where`` (made again each run), compiled."""
    if where.exists():
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(where)], check=False, capture_output=True)
        shutil.rmtree(where, ignore_errors=True)
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(where), commit], check=True, capture_output=True)
    return where


def compile_tree(tree: Path) -> None:
    """Write the bytecode of a tree's package, which runs with ``PYTHONDONTWRITEBYTECODE`` would never write."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(tree / "explainer")], check=True)


def build_seconds(tree: Path, site: Path) -> float:
    """Wall time of one fresh build of ``site`` with the code in ``tree``."""
    started = time.perf_counter()
    subprocess.run([sys.executable, str(tree / "build.py"), "build"], cwd=site, check=True, capture_output=True)
    return time.perf_counter() - started


def edit(scenario: str, site: Path, number: int, trash: Trash) -> None:
    """Make a site's next change: the layout, one story's text, no output and no cache at all, or none."""
    if scenario == "none":
        return
    if scenario == "template":
        replace_once(site / "templates/base.html", "</footer>", f"<!-- edit {number} --></footer>")
    elif scenario == "story":
        append(site / "content/stories/story-00001/explainer.md", f"\nOne more sentence, number {number} [@source-0].\n")
    else:
        trash.put(site / "site")
        trash.put(site / ".cache")


def main() -> None:
    """Generate the two copies, then time the pairs and print them."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("commit", help="the earlier code to compare with, such as HEAD~3")
    parser.add_argument("--scenario", choices=SCENARIOS, default="template", help="what each pair changes (default: template)")
    parser.add_argument("--stories", type=int, default=1000, help="stories in the generated site (default 1000)")
    parser.add_argument("--pairs", type=int, default=8, help="pairs of builds, half with each copy of the site (default 8)")
    parser.add_argument("--work", default=str(ROOT / "build" / "side"), help="where the checkout and sites go (default build/side)")
    args = parser.parse_args()
    work = Path(args.work).resolve()
    trash = Trash(work / "trash", settle=0)
    trash.put(work / "one")
    trash.put(work / "two")
    base = checkout(args.commit, work / "base")
    for tree in (base, ROOT):
        compile_tree(tree)
    sites = (work / "one", work / "two")
    for site in sites:
        generate(str(site), args.stories)
        shutil.copytree(ROOT / "templates", site / "templates")
    times: dict[str, list[float]] = {"before": [], "after": []}
    halves = [(args.pairs + 1) // 2, args.pairs // 2]
    number = 0
    for half, pairs in enumerate(halves):
        # First half: the earlier code builds copy one; second half, copy two.
        assigned = {"before": (base, sites[half]), "after": (ROOT, sites[1 - half])}
        for tree, site in assigned.values():
            build_seconds(tree, site)  # the other code's cache is not this code's: start from a build of its own
        for pair in range(pairs):
            order = ("before", "after") if pair % 2 == 0 else ("after", "before")
            for which in order:
                tree, site = assigned[which]
                number += 1
                edit(args.scenario, site, number, trash)
                seconds = build_seconds(tree, site)
                times[which].append(seconds)
                print(f"  half {half + 1}, {which:6}: {seconds:.2f} s", file=sys.stderr, flush=True)
    print(f"# {args.scenario}, {args.stories} stories: {args.commit} (before) against the working tree (after)\n")
    for which, runs in times.items():
        print(f"- {which}: median {statistics.median(runs):.2f} s (" + " ".join(f"{s:.2f}" for s in runs) + ")")
    for half, pairs in enumerate(halves):
        if pairs:
            start = sum(halves[:half])
            medians = {which: statistics.median(runs[start:start + pairs]) for which, runs in times.items()}
            copies = ("one", "two") if half == 0 else ("two", "one")
            print(f"- half {half + 1}: before {medians['before']:.2f} s on copy {copies[0]}, after {medians['after']:.2f} s on copy {copies[1]}")
    trash.discard()
    subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base)], check=False, capture_output=True)


if __name__ == "__main__":
    main()
