"""Every page type of the real and fixture sites, checked by the tools readers' browsers and robots use:
axe-core (WCAG 2.x A and AA) in Chromium in light and dark, feedparser, the sitemaps.org schema,
JSON-LD, and every internal link and #anchor."""

from __future__ import annotations

import functools
import http.server
import json
import re
import threading
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import feedparser
import pytest
import xmlschema
from playwright.sync_api import Browser, sync_playwright

from explainer.builder import build
from explainer.render import RenderOptions
from explainer.writer import write_site

from .conftest import FIXTURES, ROOT, TEMPLATES
from .serving import CHROMIUM, CHROMIUM_ARGS

TOOLS = ROOT / ".tools" / "node_modules"
AXE = TOOLS / "axe-core" / "axe.min.js"
SITEMAP_XSD = TOOLS / "sitemap" / "schema" / "sitemap.xsd"
SITES = {"real": ROOT / "content", "golden": FIXTURES / "golden" / "content"}
WCAG = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22a", "wcag22aa"]


@pytest.fixture(scope="module", params=sorted(SITES))
def built(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Published at the root here, so that 404.html's root-absolute links resolve on the test server.
    result = build(str(SITES[request.param]), str(TEMPLATES), RenderOptions(drafts=True, base_url="https://example.org/"))
    assert result.ok(), result.report.sorted()
    out = tmp_path_factory.mktemp(request.param) / "site"
    write_site(str(out), result.files)
    return out


def page_types(site: Path) -> dict[str, str]:
    """One page of each type: index, explainer, topic, publisher, 404."""
    story = next(p.parent.name for p in sorted(site.glob("*/facts.json")))
    topic = next(p.parent.name for p in sorted(site.glob("topics/*/index.html")))
    publisher = next(p.parent.name for p in sorted(site.glob("sources/*/index.html")))
    return {"index": "", "explainer": f"{story}/", "topic": f"topics/{topic}/", "publisher": f"sources/{publisher}/", "404": "404.html"}


@pytest.fixture(scope="module")
def server(built: Path) -> Iterator[str]:
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(built)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert Path(CHROMIUM).exists(), f"Chromium is needed at {CHROMIUM}; scripts/test.sh installs Debian's chromium"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_axe_finds_nothing_on_any_page_type(built: Path, server: str, browser: Browser, scheme: str) -> None:
    assert AXE.is_file(), f"axe-core is not installed at {AXE}; run scripts/test.sh"
    findings = {}
    page = browser.new_page(color_scheme=scheme)  # type: ignore[arg-type]
    for kind, path in page_types(built).items():
        page.goto(server + path)
        page.add_script_tag(path=str(AXE))
        result = page.evaluate("tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", WCAG)
        violations = [(v["id"], [n["target"] for n in v["nodes"]][:3]) for v in result["violations"]]
        if violations:
            findings[kind] = violations
    page.close()
    assert findings == {}


def test_feed_parses_without_errors(built: Path) -> None:
    feed = feedparser.parse((built / "feed.xml").read_bytes())
    assert not feed.bozo, feed.get("bozo_exception")
    assert feed.version == "atom10"
    stories = sorted(p.parent.name for p in built.glob("*/facts.json"))
    assert sorted(e.link.rstrip("/").rsplit("/", 1)[1] for e in feed.entries) == stories
    for entry in feed.entries:
        assert entry.title and entry.summary and entry.updated and entry.published


def test_sitemap_is_valid_against_the_sitemaps_org_schema(built: Path) -> None:
    assert SITEMAP_XSD.is_file(), f"the sitemaps.org schema is not installed at {SITEMAP_XSD}; run scripts/test.sh"
    schema = xmlschema.XMLSchema(str(SITEMAP_XSD))
    schema.validate(str(built / "sitemap.xml"))
    robots = (built / "robots.txt").read_text()
    assert re.search(r"^Sitemap: https?://\S+/sitemap\.xml$", robots, re.M)


def test_json_ld_parses_everywhere_and_explainers_carry_the_article_fields(built: Path) -> None:
    for html in sorted(built.rglob("*.html")):
        scripts = re.findall(r'<script type="application/ld\+json">(.*?)</script>', html.read_text(), re.S)
        assert len(scripts) == 1, html
        data = json.loads(scripts[0])
        assert data["@context"] == "https://schema.org"
        if (html.parent / "facts.json").exists():
            assert data["@type"] == "NewsArticle"
            for key in ("headline", "datePublished", "dateModified", "author", "publisher", "citation", "isBasedOn"):
                assert data[key], (html, key)


class Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(str(a["id"]))
        for name in ("href", "src"):
            if a.get(name) and not (tag == "link" and a.get("rel") == "canonical"):
                self.links.append(str(a[name]))


def parse_links(path: Path) -> Links:
    parser = Links()
    parser.feed(path.read_text())
    return parser


def test_every_internal_link_and_anchor_resolves(built: Path) -> None:
    pages = {p: parse_links(p) for p in built.rglob("*.html")}
    broken = []
    for page, parsed in pages.items():
        base = "http://site/" + page.relative_to(built).as_posix()
        for link in parsed.links:
            parts = urlsplit(urljoin(base, link))
            if parts.scheme in ("https", "mailto") or (parts.scheme == "http" and parts.netloc != "site"):
                continue
            path = unquote(parts.path)
            target = built / path.lstrip("/")
            if target.is_dir():
                target = target / "index.html"
            if not target.is_file():
                broken.append((page.relative_to(built).as_posix(), link))
                continue
            if parts.fragment and target.suffix == ".html" and parts.fragment not in pages[target].ids:
                broken.append((page.relative_to(built).as_posix(), link))
    assert broken == []


@pytest.mark.parametrize("width", [320, 390, 768, 1280, 1920])
def test_no_horizontal_scrolling_at_any_width(built: Path, server: str, browser: Browser, width: int) -> None:
    page = browser.new_page(viewport={"width": width, "height": 800})
    wide = {}
    for kind, path in page_types(built).items():
        page.goto(server + path)
        scroll, client = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        if scroll > client:
            wide[kind] = (scroll, client)
    page.close()
    assert wide == {}


def test_a_focused_citation_marker_shows_its_source_without_javascript(built: Path, server: str, browser: Browser) -> None:
    context = browser.new_context(java_script_enabled=False, viewport={"width": 320, "height": 640})
    page = context.new_page()
    page.goto(server + page_types(built)["explainer"])
    marker = page.locator("a.marker").first
    tip = "getComputedStyle(document.querySelector('a.marker'), '::after')"
    assert page.evaluate(f"{tip}.content") == "none"
    marker.focus()
    label = marker.get_attribute("aria-label") or ""
    assert page.evaluate(f"{tip}.content") == json.dumps(label)  # the source, shown on focus
    assert page.evaluate(f"{tip}.position") == "fixed"  # at the window's foot: never widens the page
    assert re.match(r"Source \d+: .+", label)
    page.locator("h1").click()
    marker.hover()
    assert page.evaluate(f"{tip}.content") == json.dumps(label)
    context.close()


def test_explainer_page_weighs_at_most_50_kb_with_its_css(built: Path) -> None:
    explainer = built / page_types(built)["explainer"] / "index.html"
    css = sum(p.stat().st_size for p in (built / "static").glob("*.css"))
    assert explainer.stat().st_size + css <= 50 * 1024


def test_printed_source_list_shows_full_urls(built: Path, server: str, browser: Browser) -> None:
    page = browser.new_page()
    page.goto(server + page_types(built)["explainer"])
    page.emulate_media(media="print")
    linked = page.locator("#sources a.source-title").first
    href = linked.get_attribute("href")
    after = page.evaluate("el => getComputedStyle(el, '::after').content", linked.element_handle())
    assert href and href.startswith("http") and href in after
    assert page.locator(".masthead nav").is_hidden()  # navigation is not printed
    page.emulate_media(media="screen")
    assert page.evaluate("el => getComputedStyle(el, '::after').content", linked.element_handle()) == "none"
    page.close()
