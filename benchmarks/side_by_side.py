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

``--instructions`` counts the instructions the build's processes ran instead (valgrind's
cachegrind, which must be installed: ``apt-get install valgrind``), in millions. That count barely
moves from run to run or hour to hour, where this machine's times swing by a third, so it
shows a change of a few per cent in a handful of pairs. It leaves out the system's own work (the
stat calls, reading and writing files) and runs each build some fifty times slower: it suits the
one-story and no-change rebuilds.
"""

from __future__ import annotations

import argparse
import re
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


def build_cost(tree: Path, site: Path, instructions: bool = False) -> float:
    """One fresh build of ``site`` with the code in ``tree``: its wall time, or the millions of instructions its processes ran."""
    command = [sys.executable, str(tree / "build.py"), "build"]
    if instructions:
        # Forked workers are followed too; each process prints its own count when it ends.
        command = ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null", *command]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=site, check=True, capture_output=True, text=True)
    if not instructions:
        return time.perf_counter() - started
    counts = re.findall(r"I\s+refs:\s+([\d,]+)", done.stderr)
    if not counts:
        raise SystemExit(f"valgrind printed no instruction count:\n{done.stderr[-2000:]}")
    return sum(int(count.replace(",", "")) for count in counts) / 1e6


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
    parser.add_argument("--instructions", action="store_true", help="count instructions with valgrind instead of timing (see above)")
    args = parser.parse_args()
    if args.instructions and shutil.which("valgrind") is None:
        parser.error("--instructions needs valgrind (apt-get install valgrind)")
    unit, shown = ("M", "{:.0f}") if args.instructions else ("s", "{:.2f}")
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
            build_cost(tree, site)  # the other code's cache is not this code's: start from a build of its own
        for pair in range(pairs):
            order = ("before", "after") if pair % 2 == 0 else ("after", "before")
            for which in order:
                tree, site = assigned[which]
                number += 1
                edit(args.scenario, site, number, trash)
                cost = build_cost(tree, site, args.instructions)
                times[which].append(cost)
                print(f"  half {half + 1}, {which:6}: {shown.format(cost)} {unit}", file=sys.stderr, flush=True)
    measure = "instructions, millions" if args.instructions else "seconds"
    print(f"# {args.scenario}, {args.stories} stories: {args.commit} (before) against the working tree (after), in {measure}\n")
    for which, runs in times.items():
        print(f"- {which}: median {shown.format(statistics.median(runs))} {unit} (" + " ".join(shown.format(s) for s in runs) + ")")
    for half, pairs in enumerate(halves):
        if pairs:
            start = sum(halves[:half])
            medians = {which: statistics.median(runs[start:start + pairs]) for which, runs in times.items()}
            copies = ("one", "two") if half == 0 else ("two", "one")
            before, after = shown.format(medians["before"]), shown.format(medians["after"])
            print(f"- half {half + 1}: before {before} {unit} on copy {copies[0]}, after {after} {unit} on copy {copies[1]}")
    trash.discard()
    subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base)], check=False, capture_output=True)


if __name__ == "__main__":
    main()
