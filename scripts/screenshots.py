"""Render each page type at 390 px and 1280 px wide, light and dark, into docs/screenshots/.

    .venv/bin/python scripts/screenshots.py [--content content] [--out docs/screenshots]

Builds the site into a temporary folder, serves it on 127.0.0.1 and photographs it with Debian's
Chromium through Playwright. The README shows the explainer.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import os
import shutil
import sys
import tempfile
import threading
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from explainer.builder import build  # noqa: E402
from explainer.writer import write_site  # noqa: E402

CHROMIUM = os.environ.get("CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--hide-scrollbars"]


class Quiet(http.server.SimpleHTTPRequestHandler):
    """A static file server that keeps quiet."""

    def log_message(self, format: str, *args: object) -> None:
        """Say nothing."""


def page_types(site: Path) -> dict[str, str]:
    """One page of each type."""
    story = next(p.parent.name for p in sorted(site.glob("*/facts.json")))
    topic = next(p.parent.name for p in sorted(site.glob("topics/*/index.html")))
    publisher = next(p.parent.name for p in sorted(site.glob("sources/*/index.html")))
    return {"index": "", "explainer": f"{story}/", "topic": f"topics/{topic}/", "publisher": f"sources/{publisher}/", "404": "404.html"}


def main() -> None:
    """Build, serve and photograph every page type."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--content", default=str(ROOT / "content"))
    parser.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    parser.add_argument("--full", action="store_true", help="whole pages instead of the first screen")
    args = parser.parse_args()
    result = build(args.content, str(ROOT / "templates"))
    if not result.ok():
        raise SystemExit("the site does not build; run python build.py check")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        site = Path(tmp) / "site"
        write_site(str(site), result.files)
        httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(site)))
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        base = f"http://127.0.0.1:{httpd.server_address[1]}/"
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            for scheme in ("light", "dark"):
                for width, height in ((390, 844), (1280, 900)):
                    page = browser.new_page(viewport={"width": width, "height": height}, color_scheme=scheme)
                    for kind, path in page_types(site).items():
                        page.goto(base + path)
                        target = out / f"{kind}-{width}-{scheme}.png"
                        page.screenshot(path=str(target), full_page=args.full)
                        print(target.relative_to(ROOT) if target.is_relative_to(ROOT) else target)
                    page.close()
            browser.close()
        httpd.shutdown()


if __name__ == "__main__":
    main()
