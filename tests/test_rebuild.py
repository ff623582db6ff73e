"""The preview's rebuild logic without sockets: last save wins, crashes are contained, droppings ignored."""

from __future__ import annotations

import argparse
import gc
import shutil
import threading
import time
import weakref
from pathlib import Path
from typing import Any

import pytest

from explainer import narrative, serve
from explainer.builder import BuildResult
from explainer.diagnostics import Report
from explainer.serve import Preview, Rebuilder, _is_page, error_page, watch_inputs

from .conftest import TEMPLATES


def args_for(root: Path) -> argparse.Namespace:
    return argparse.Namespace(content=str(root / "content"), templates=str(TEMPLATES), out=str(root / "site"), drafts=False)


def test_a_broken_build_keeps_the_site_and_records_errors(mini_site: Path) -> None:
    preview = Preview()
    rebuilder = Rebuilder(args_for(mini_site), preview, lambda: None)
    assert rebuilder.build_once()
    before = (mini_site / "site/alpha/index.html").read_bytes()
    facts = mini_site / "content/stories/alpha/facts.yaml"
    facts.write_text(facts.read_text().replace("[wire, daily]", "[nowhere]"))
    assert not rebuilder.build_once()
    assert (mini_site / "site/alpha/index.html").read_bytes() == before
    errors = preview.current_errors()
    assert any(d.severity == "error" and "nowhere" in d.message for d in errors)


@pytest.mark.parametrize("exc", [SystemExit(3), RuntimeError("boom"), RecursionError(), MemoryError()])
def test_no_exception_escapes_a_rebuild(mini_site: Path, monkeypatch: pytest.MonkeyPatch, exc: BaseException) -> None:
    def explode(*args: object, **kwargs: object) -> BuildResult:
        raise exc

    monkeypatch.setattr(serve, "build", explode)
    preview = Preview()
    assert not Rebuilder(args_for(mini_site), preview, lambda: None).build_once()
    assert "crashed" in preview.current_errors()[0].message


def test_last_save_wins_and_reload_follows_the_final_build(mini_site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Saves during a build cause exactly one more build, and the reload comes after it."""
    events: list[str] = []
    first_build_started = threading.Event()
    release = threading.Event()

    def slow_build(*args: object, **kwargs: object) -> BuildResult:
        events.append("build")
        if not first_build_started.is_set():
            first_build_started.set()
            release.wait(5)
        return BuildResult({}, Report())

    monkeypatch.setattr(serve, "build", slow_build)
    monkeypatch.setattr(serve, "write_site", lambda out, files: events.append("write"))
    monkeypatch.setattr(serve, "update_site", lambda out, files, previous, keep_replaced=False: events.append("write"))
    reloaded = threading.Event()

    def on_built() -> None:
        events.append("reload")
        reloaded.set()

    rebuilder = Rebuilder(args_for(mini_site), Preview(), on_built)
    rebuilder.start()
    rebuilder.request()
    assert first_build_started.wait(5)
    for _ in range(5):  # a burst of saves while the first build runs
        rebuilder.request()
    release.set()
    assert reloaded.wait(5)
    time.sleep(0.2)
    rebuilder.stop()
    assert events == ["build", "write", "build", "write", "reload"]


def test_error_page_escapes_everything() -> None:
    from explainer.diagnostics import Diagnostic, Pos

    page = error_page([Diagnostic(Pos("content/<x>.yaml", 3, 4), "error", "bad <script>alert(1)</script>")]).decode()
    assert "<script>alert" not in page
    assert "content/&lt;x&gt;.yaml:3:4" in page
    assert page.count("</head>") == 1  # where livereload injects its script


def test_pages_are_told_from_other_files() -> None:
    assert _is_page("") and _is_page("alpha/") and _is_page("alpha/index.html") and _is_page("alpha")
    assert not _is_page("static/style.abc.css") and not _is_page("alpha/facts.json")


def test_watcher_ignores_droppings_and_output(tmp_path: Path) -> None:
    content = tmp_path / "content"
    content.mkdir()
    out = content / "site"  # refused by the command line; the watcher must still never react to it
    out.mkdir()
    changes: list[tuple[str, bool]] = []
    closed: list[str] = []
    observer = watch_inputs([str(content)], str(out), lambda path, written: changes.append((path, written)), closed.append)
    try:
        for name in (".#facts.yaml", "facts.yaml~", "4913", "notes.swp", ".DS_Store", "x.tmp"):
            (content / name).write_text("x")
        (out / "index.html").write_text("x")
        time.sleep(0.5)
        assert changes == [] and closed == []
        facts = str(content / "facts.yaml")
        (content / "facts.yaml").write_text("x")
        deadline = time.monotonic() + 5
        while facts not in closed and time.monotonic() < deadline:
            time.sleep(0.02)
        # Written in place: told as a write, then as closed (which ends the preview's wait).
        assert (facts, True) in changes and closed == [facts]
        (content / "x.tmp").replace(content / "notes.md")  # a save by renaming is a change, not a write
        while (str(content / "notes.md"), False) not in changes and time.monotonic() < deadline:
            time.sleep(0.02)
        assert (str(content / "notes.md"), False) in changes and closed == [facts]
    finally:
        observer.stop()
        observer.join()


def test_a_replaced_template_environment_is_freed_once_the_preview_is_idle(mini_site: Path) -> None:
    templates = mini_site / "templates"
    shutil.copytree(TEMPLATES, templates)
    args = args_for(mini_site)
    args.templates = str(templates)
    rebuilder = Rebuilder(args, Preview(), lambda: None)
    try:
        assert rebuilder.build_once()
        first = weakref.ref(rebuilder.state.environment[1])
        assert rebuilder.build_once() and not rebuilder.untidy  # same templates, same environment
        (templates / "base.html").write_text((templates / "base.html").read_text() + "{# edited #}\n")
        assert rebuilder.build_once() and rebuilder.untidy
        assert first() is not None  # frozen with its cycles: only a full collection frees it
        rebuilder.tidy()
        assert first() is None and not rebuilder.untidy
    finally:
        gc.unfreeze()


def test_a_save_written_in_place_is_built_as_soon_as_it_is_closed(mini_site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The preview waits for a save to end: for files written in place, until the last is closed; otherwise SETTLE_SECONDS."""
    rebuilder = Rebuilder(args_for(mini_site), Preview(), lambda: None)
    facts, narrative = "content/stories/alpha/facts.yaml", "content/stories/alpha/explainer.md"
    assert not rebuilder.saves_complete()  # nothing seen: nothing says a save is complete
    rebuilder.request(facts, written=True)
    rebuilder.request(narrative, written=True)
    rebuilder.finished(facts)
    assert not rebuilder.saves_complete()  # the narrative is still being written
    rebuilder.finished(narrative)
    assert rebuilder.saves_complete()
    rebuilder.request(facts, written=True)  # written again after it was closed
    assert not rebuilder.saves_complete()
    rebuilder.finished(facts)
    rebuilder.request("content/stories/beta")  # a folder created, a file renamed or removed: wait the burst out
    assert not rebuilder.saves_complete()
    rebuilder._take_touched()  # a build began: what follows is a new save
    rebuilder.request(facts, written=True)
    # A close from another thread ends the wait at once, however long the wait could be.
    monkeypatch.setattr(serve, "SETTLE_SECONDS", 600)
    waiting = threading.Thread(target=rebuilder.settle)
    waiting.start()
    rebuilder.finished(facts)
    waiting.join(timeout=60)
    assert not waiting.is_alive()


def test_warming_up_leaves_the_first_save_nothing_to_compile(mini_site: Path) -> None:
    # The preview's first build reads big sites in worker processes: the server's own process has
    # then never made the markdown parser nor compiled the story templates. Warming up does both.
    rebuilder = Rebuilder(args_for(mini_site), Preview(), lambda: None)
    try:
        assert rebuilder.build_once()
        env = rebuilder.state.environment[1]
        env.cache.clear()  # type: ignore[union-attr]  # as a parent whose workers rendered the stories
        narrative.parser.cache_clear()
        rebuilder.warm()
        compiled = {template.name for template in env.cache.values()}  # type: ignore[union-attr]
        assert compiled == {name for name in env.list_templates() if name.endswith((".html", ".xml"))}
        assert {"story.html", "index.html", "feed.xml"} <= compiled
        assert narrative.parser.cache_info().currsize == 1
    finally:
        gc.unfreeze()


def test_an_environment_whose_templates_changed_while_it_read_them_is_not_kept(mini_site: Path) -> None:
    # Jinja reads a template when first used, after the build took the templates' digest, and
    # never again: kept under that digest, it could show a version the digest does not name.
    from explainer.builder import load_site
    from explainer.render import Renderer, RenderOptions

    templates = mini_site / "templates"
    shutil.copytree(TEMPLATES, templates)
    inputs = load_site(str(mini_site / "content"), Report())

    def renderer(environment: tuple[bytes, Any] | None = None) -> Renderer:
        return Renderer(inputs, str(templates), RenderOptions(), Report(), environment=environment)

    unchanged = renderer()
    unchanged.env.get_template("base.html")
    kept = unchanged.environment()
    assert kept is not None and kept[1] is unchanged.env
    changed = renderer()
    changed.env.get_template("base.html")
    layout = templates / "base.html"
    original = layout.read_text()
    layout.write_text(original + "{# saved meanwhile #}\n")
    assert changed.environment() is None
    layout.write_text(original)
    again = renderer(kept)  # the same templates as when it was kept: reused, and handed on as it is
    assert again.env is kept[1] and again.environment() == kept
