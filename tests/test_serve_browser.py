"""The preview server as authors meet it: a real process on a free port, a real headless Chromium."""

from __future__ import annotations

import shutil
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Route, sync_playwright

from .conftest import FIXTURES, TEMPLATES
from .serving import CHROMIUM, CHROMIUM_ARGS, Preview, preview_server, save

HEADLINE = "headline: Alpha happened\n"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert Path(CHROMIUM).exists(), f"Chromium is needed at {CHROMIUM}; scripts/test.sh installs Debian's chromium"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def site_root(tmp_path: Path) -> Path:
    shutil.copytree(FIXTURES / "mini" / "content", tmp_path / "content")
    shutil.copytree(TEMPLATES, tmp_path / "templates")
    return tmp_path


@pytest.fixture
def preview(site_root: Path) -> Iterator[Preview]:
    with preview_server(site_root) as server:
        yield server
        assert server.stop() == 0  # Ctrl-C stops it cleanly


def open_connected(browser: Browser, url: str) -> Page:
    """Open a page and wait until it is registered for reloads.

    livereload registers a tab when the tab's "info" message arrives (after the hello exchange),
    so wait for the page to have sent it, then give the server a moment to read it.
    """
    page = browser.new_page()
    sent: list[str] = []
    page.on("websocket", lambda ws: ws.on("framesent", lambda payload: sent.append(str(payload))))
    page.goto(url)
    deadline = time.monotonic() + 10
    while not any('"info"' in frame for frame in sent):
        assert time.monotonic() < deadline, "the page never connected for reloads"
        page.wait_for_timeout(20)
    page.wait_for_timeout(100)
    return page


def facts(site_root: Path) -> Path:
    return site_root / "content/stories/alpha/facts.yaml"


def wait_for_heading(page: Page, text: str, timeout: float = 10_000) -> None:
    page.wait_for_function("t => document.querySelector('h1') && document.querySelector('h1').textContent === t", arg=text, timeout=timeout)


def test_page_loads_and_connects_for_reloads(browser: Browser, preview: Preview, site_root: Path) -> None:
    page = open_connected(browser, preview.url + "alpha/")
    assert page.text_content("h1") == "Alpha happened"
    served = urllib.request.urlopen(preview.url + "alpha/").read().decode()
    assert "livereload.js" in served
    assert "livereload" not in (site_root / "site/alpha/index.html").read_text()


def test_an_edit_shows_up_without_a_manual_reload(browser: Browser, preview: Preview, site_root: Path) -> None:
    page = open_connected(browser, preview.url + "alpha/")
    save(facts(site_root), facts(site_root).read_text().replace(HEADLINE, "headline: Alpha, edited\n"))
    wait_for_heading(page, "Alpha, edited")


def test_a_broken_save_shows_errors_and_the_fix_brings_the_page_back(browser: Browser, preview: Preview, site_root: Path) -> None:
    page = open_connected(browser, preview.url + "alpha/")
    good = facts(site_root).read_text()
    save(facts(site_root), good.replace("sources: [wire, daily]", "sources: [wire, <nowhere>]"))
    page.wait_for_selector("ol.diagnostics", timeout=10_000)
    listed = page.text_content("ol.diagnostics") or ""
    assert "content/stories/alpha/facts.yaml:16" in listed
    assert "<nowhere>" in listed  # escaped, shown as text
    # other pages keep their last good version on disk while the error page is shown
    assert "Alpha happened" in (site_root / "site/alpha/index.html").read_text()
    save(facts(site_root), good.replace(HEADLINE, "headline: Alpha is back\n"))
    wait_for_heading(page, "Alpha is back")


def test_ten_rapid_saves_end_showing_the_last(browser: Browser, preview: Preview, site_root: Path) -> None:
    page = open_connected(browser, preview.url + "alpha/")
    good = facts(site_root).read_text()
    for i in range(1, 11):
        save(facts(site_root), good.replace(HEADLINE, f"headline: Save {i}\n"))
    wait_for_heading(page, "Save 10")
    time.sleep(1.0)  # nothing later may take it back to an older save
    assert page.text_content("h1") == "Save 10"


def test_a_build_that_finishes_while_the_page_connects_still_reloads_it(browser: Browser, preview: Preview, site_root: Path) -> None:
    # The page is served, then a save is built and its reload sent before the page's reload
    # script has connected: the page must not stay on the content it was served with.
    page = browser.new_page()
    loads: list[str] = []
    page.on("load", lambda: loads.append(page.url))
    held: list[Route] = []
    page.route("**/livereload.js*", lambda route: held.append(route))  # hold the reload script until the build is done
    page.goto(preview.url + "alpha/", wait_until="domcontentloaded")
    deadline = time.monotonic() + 10
    while not held:
        assert time.monotonic() < deadline, "the page never asked for the reload script"
        page.wait_for_timeout(20)
    save(facts(site_root), facts(site_root).read_text().replace(HEADLINE, "headline: Built meanwhile\n"))
    while "Built meanwhile" not in urllib.request.urlopen(preview.url + "alpha/").read().decode():
        assert time.monotonic() < deadline, "the save was never built"
        time.sleep(0.02)
    time.sleep(0.3)  # the reload for that build has gone out, to no one
    assert page.text_content("h1") == "Alpha happened"
    held[0].continue_()
    page.unroute("**/livereload.js*")
    wait_for_heading(page, "Built meanwhile")
    page.wait_for_timeout(500)
    assert len(loads) == 2  # reloaded once, and the new page, up to date, is left alone


def test_template_and_static_changes_reload_too(browser: Browser, preview: Preview, site_root: Path) -> None:
    page = open_connected(browser, preview.url + "alpha/")
    css = site_root / "templates/static/style.css"
    save(css, css.read_text() + "\nh1 { letter-spacing: 3px; }\n")
    page.wait_for_function("getComputedStyle(document.querySelector('h1')).letterSpacing === '3px'", timeout=10_000)


def test_drafts_are_labelled(browser: Browser, site_root: Path) -> None:
    text = facts(site_root).read_text()
    save(facts(site_root), text + "draft: true\n")
    with preview_server(site_root, "--drafts") as server:
        page = open_connected(browser, server.url + "alpha/")
        assert "Draft" in (page.text_content(".draft-label") or "")
        assert server.stop() == 0


def test_never_serves_outside_the_output_folder(preview: Preview, site_root: Path) -> None:
    (site_root / "secret.txt").write_text("outside")
    (site_root / "site-link-target").mkdir()
    for path in ["../secret.txt", "%2e%2e/secret.txt", "..%2fsecret.txt", "%252e%252e%252fsecret.txt", "..\\secret.txt",
                 "%2e%2e%5csecret.txt", "alpha/%00", ".explainer-output", "%2eexplainer-output"]:
        try:
            body = urllib.request.urlopen(preview.url + path).read()
        except urllib.error.HTTPError as exc:
            assert exc.code in (400, 403, 404), path
            body = exc.read()
        assert b"outside" not in body, path


def test_symlinks_out_of_the_output_folder_are_not_followed(preview: Preview, site_root: Path) -> None:
    (site_root / "secret.txt").write_text("outside")
    (site_root / "site" / "leak.txt").symlink_to(site_root / "secret.txt")
    (site_root / "site" / "leakdir").symlink_to(site_root, target_is_directory=True)
    for path in ["leak.txt", "leakdir/secret.txt"]:
        try:
            body = urllib.request.urlopen(preview.url + path).read()
        except urllib.error.HTTPError as exc:
            assert exc.code in (403, 404), path
            body = exc.read()
        assert b"outside" not in body, path


def test_port_in_use_is_a_one_line_error(preview: Preview, site_root: Path) -> None:
    import subprocess
    import sys

    from .conftest import ROOT

    port = preview.url.rsplit(":", 1)[1].strip("/")
    result = subprocess.run([sys.executable, str(ROOT / "build.py"), "serve", "--port", port], cwd=site_root,
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "in use" in result.stderr


def test_output_inside_watched_folder_is_refused(site_root: Path) -> None:
    import subprocess
    import sys

    from .conftest import ROOT

    for out in ("content/site", "."):  # the output inside a watched folder, or a watched folder inside the output
        result = subprocess.run([sys.executable, str(ROOT / "build.py"), "serve", "--out", out], cwd=site_root,
                                capture_output=True, text=True, timeout=30)
        assert result.returncode == 2
        assert f"--out {out} overlaps --content content" in result.stderr
