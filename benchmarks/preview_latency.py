"""Measure save -> page updated in the browser for the live preview, and print median and p95.

Starts `build.py serve` as a real process, opens a story in headless Chromium (Debian's, through
Playwright), then saves the story's facts.yaml with a new headline N times and times each save
until the browser has parsed, painted and loaded the page showing it (by the browser's own clock).
Run it on purpose; it is not a test.

    python benchmarks/preview_latency.py                 # the real site and a generated 1000-story site
    python benchmarks/preview_latency.py --stories 0     # the real site only
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from benchmarks.generate import generate  # noqa: E402

CHROMIUM = os.environ.get("CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]


def start_server(root: Path) -> tuple[subprocess.Popen[str], str]:
    """Run the preview on a free port; return the process and its URL."""
    process = subprocess.Popen([sys.executable, str(ROOT / "build.py"), "serve", "--port", "0"], cwd=root,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
    assert process.stdout is not None
    for line in process.stdout:
        m = re.search(r"at (http://127\.0\.0\.1:\d+/)", line)
        if m:
            threading.Thread(target=lambda: [None for _ in process.stdout], daemon=True).start()  # type: ignore[union-attr]
            return process, m.group(1)
    raise SystemExit("the preview did not start")


def connect(page: Page, url: str) -> None:
    """Open the page and wait until livereload has registered it."""
    sent: list[str] = []
    page.on("websocket", lambda ws: ws.on("framesent", lambda payload: sent.append(str(payload))))
    page.goto(url)
    while not any('"info"' in s for s in sent):
        page.wait_for_timeout(10)
    page.wait_for_timeout(200)


# When the page now in the tab reached each milestone, in milliseconds since the epoch, by the
# browser's own clock: the same system clock Python reads, and no Playwright round trip included.
MILESTONES = """() => {
    const nav = performance.getEntriesByType("navigation")[0];
    const paint = performance.getEntriesByName("first-contentful-paint")[0];
    const at = (t) => t ? performance.timeOrigin + t : null;
    return [at(nav.domContentLoadedEventStart), at(paint && paint.startTime), at(nav.loadEventStart)];
}"""
MEASURES = ("content parsed (DOMContentLoaded)", "page painted (first contentful paint)", "page loaded (load event)")


def measure(root: Path, slug: str, saves: int) -> list[list[float]]:
    """Milliseconds from each save to each milestone (MEASURES) of the new page in the browser."""
    facts = root / "content" / "stories" / slug / "facts.yaml"
    original = facts.read_text(encoding="utf-8")
    headline = re.search(r"^headline: (.*)$", original, re.M)
    assert headline
    process, url = start_server(root)
    timings: list[list[float]] = [[] for _ in MEASURES]
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page()
            connect(page, url + slug + "/")
            for i in range(saves):
                marker = f"Benchmark save {i}"
                text = original.replace(headline.group(0), f'headline: "{marker}"', 1)
                saved = time.time() * 1000
                facts.write_text(text, encoding="utf-8")
                while True:
                    page.wait_for_event("load", timeout=30_000)
                    if page.text_content("h1") == marker:
                        break
                page.wait_for_timeout(100)  # let the paint entry be recorded
                for values, at in zip(timings, page.evaluate(MILESTONES), strict=True):
                    if at is not None:
                        values.append(at - saved)
                page.wait_for_timeout(250)  # separate saves, as an author's are
            browser.close()
    finally:
        facts.write_text(original, encoding="utf-8")
        process.terminate()
        process.wait()
    return timings


def report(name: str, timings: list[list[float]]) -> None:
    """Print the figures of one run, for each milestone."""
    for what, values in zip(MEASURES, timings, strict=True):
        if not values:
            print(f"{name}, {what}: not reported by this browser", flush=True)
            continue
        ordered = sorted(values)
        p95 = ordered[max(0, round(0.95 * len(ordered)) - 1)]
        print(f"{name}, {what}: {len(values)} saves, median {statistics.median(ordered):.0f} ms, p95 {p95:.0f} ms, "
              f"min {ordered[0]:.0f} ms, max {ordered[-1]:.0f} ms", flush=True)


def main() -> None:
    """Run the benchmark on the real site and on a generated site."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--saves", type=int, default=20)
    parser.add_argument("--stories", type=int, default=1000, help="size of the generated site (0: skip it)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        real = Path(tmp) / "real"
        shutil.copytree(ROOT / "content", real / "content")
        shutil.copytree(ROOT / "templates", real / "templates")
        report("real site", measure(real, "baikonur-launch-pad-damage", args.saves))
        if args.stories:
            generated = Path(tmp) / "generated"
            generate(str(generated), args.stories)
            shutil.copytree(ROOT / "templates", generated / "templates")
            report(f"generated site, {args.stories} stories", measure(generated, f"story-{args.stories // 2:05d}", args.saves))


if __name__ == "__main__":
    main()
