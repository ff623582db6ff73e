"""The first real story: strict check clean, every block of the explainer page in the spec's order."""

from __future__ import annotations

import json
import re

import pytest

from explainer.builder import BuildResult, build

from .conftest import ROOT, TEMPLATES

SLUG = "baikonur-launch-pad-damage"


@pytest.fixture(scope="module")
def site() -> BuildResult:
    return build(str(ROOT / "content"), str(TEMPLATES))


@pytest.fixture(scope="module")
def page(site: BuildResult) -> str:
    return site.files[f"{SLUG}/index.html"].decode()


def test_strict_check_has_no_findings(site: BuildResult) -> None:
    assert site.report.sorted() == []
    assert site.ok(strict=True)


def test_every_output_of_the_spec_exists(site: BuildResult) -> None:
    for path in ("index.html", f"{SLUG}/index.html", f"{SLUG}/facts.json", "topics/space/index.html", "sources/index.html",
                 "sources/phys-org/index.html", "sources/kyiv-independent/index.html", "feed.xml", "sitemap.xml", "robots.txt", "404.html"):
        assert path in site.files, path
    assert any(re.fullmatch(r"static/style\.[0-9a-f]{10}\.css", p) for p in site.files)


def test_blocks_appear_in_the_order_of_the_spec(page: str) -> None:
    markers = ['<h1>', 'class="dek"', 'class="attribution"', 'class="byline"', 'class="dates"', 'id="takeaways"',
               'class="narrative"', 'class="why"', 'id="quotes"', 'id="unknowns"', 'id="timeline"', 'id="facts"',
               'id="sources"', 'id="corrections"']
    positions = [page.index(m) for m in markers]
    assert positions == sorted(positions)


def test_attribution_credits_both_outlets(page: str) -> None:
    assert '<p class="attribution">Based on reporting by Phys.org and The Kyiv Independent</p>' in page


def test_roscosmos_and_meduza_are_shown_via_the_kyiv_independent(page: str) -> None:
    assert "Roscosmos, via The Kyiv Independent" in page
    assert "Meduza, via The Kyiv Independent" in page


def test_the_repair_timeline_is_shown_as_disputed_with_its_note(page: str) -> None:
    fact = re.search(r'<li id="fact-[^"]+" class="fact status-disputed">(.*?)</li>', page, re.S)
    assert fact is not None
    assert 'class="note"' in fact.group(1)
    assert "very soon" in fact.group(1) and "indefinite" in fact.group(1)


def test_phys_org_has_no_invented_address(site: BuildResult) -> None:
    data = json.loads(site.files[f"{SLUG}/facts.json"])
    phys = [s for s in data["sources"] if s["publisher"]["id"] == "phys-org"]
    assert phys and all(s["url"] is None and s["missing_url_reason"] for s in phys)
    assert data["schema_version"] == 1


def test_every_citation_marker_and_backlink_resolves(page: str) -> None:
    ids = set(re.findall(r'\sid="([^"]+)"', page))
    targets = re.findall(r'href="#([^"]+)"', page)
    assert targets
    assert [t for t in targets if t not in ids] == []
    # every citing place is linked back from the source list
    places = set(re.findall(r'<sup class="cite" id="(cite-\d+)"', page))
    backlinks = set(re.findall(r'<a href="#(cite-\d+)" aria-label', page))
    assert places and places == backlinks


def test_json_ld_is_a_news_article_citing_every_source(page: str, site: BuildResult) -> None:
    script = re.search(r'<script type="application/ld\+json">(.*?)</script>', page, re.S)
    assert script is not None
    ld = json.loads(script.group(1))
    assert ld["@type"] == "NewsArticle"
    for key in ("headline", "datePublished", "dateModified", "author", "publisher"):
        assert ld[key]
    data = json.loads(site.files[f"{SLUG}/facts.json"])
    assert len(ld["citation"]) == len(data["sources"])
    assert {w["publisher"]["name"] for w in ld["isBasedOn"]} == {"Phys.org", "The Kyiv Independent"}
    assert ld["mainEntityOfPage"] == "https://explainers.example.org/baikonur-launch-pad-damage/"


def test_canonical_and_open_graph_come_from_base_url(page: str) -> None:
    assert '<link rel="canonical" href="https://explainers.example.org/baikonur-launch-pad-damage/">' in page
    assert '<meta property="og:url" content="https://explainers.example.org/baikonur-launch-pad-damage/">' in page
    assert '<meta property="og:type" content="article">' in page
