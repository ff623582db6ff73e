"""Incremental builds (the CLI's saved cache, the preview's state in memory) equal full builds.

After every kind of edit, the output folder an incremental build leaves is byte-for-byte the
folder a fresh full build writes, and it reports the same diagnostics; a cache that is damaged,
from other code, or deleted mid-way only costs time.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import marshal
import os
import pickle
import shutil
import sqlite3
import struct
import threading
from collections.abc import Callable
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

from explainer import builder, cache, fingerprint, loader, parallel
from explainer.builder import build
from explainer.cache import BuildState, load_state, save_state
from explainer.cli import main
from explainer.files import compress
from explainer.writer import MARKER, output_lock, remove_tree, update_site, write_site

from .conftest import FIXTURES, TEMPLATES, snapshot


def replace(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, (path, old)
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def include_part(root: Path) -> None:
    """A layout that includes a template which shows the page's headline when it is given one."""
    (root / "templates/_part.html").write_text('{% if facts is defined %}<p class="part">{{ facts.headline }}</p>{% endif %}\n')
    replace(root / "templates/base.html", "</main>", '</main>\n{% include "_part.html" %}')


Step = Callable[[Path], None]
STORY = "content/stories/first-story"
STEPS: list[tuple[str, Step]] = [
    ("narrative edit", lambda r: replace(r / STORY / "explainer.md", "Pads are scarce", "Pads are rare")),
    ("headline edit", lambda r: replace(r / STORY / "facts.yaml", "A pad was damaged", "A launch pad was damaged")),
    ("fact status edit", lambda r: replace(r / STORY / "facts.yaml", "status: unverified", "status: reported")),
    ("story added", lambda r: shutil.copytree(r / "content/stories/second-story", r / "content/stories/third-story")),
    ("story deleted", lambda r: shutil.rmtree(r / "content/stories/third-story")),
    ("story renamed", lambda r: (r / "content/stories/second-story").rename(r / "content/stories/renamed-story")),
    ("draft published", lambda r: replace(r / "content/stories/draft-story/facts.yaml", "draft: true", "draft: false")),
    ("stray file in a story", lambda r: (r / STORY / "notes.txt").write_text("to do\n")),
    ("stray file removed", lambda r: (r / STORY / "notes.txt").unlink()),
    ("template edit", lambda r: replace(r / "templates/story.html", "Key takeaways", "The key points")),
    ("macro template edit", lambda r: replace(r / "templates/_macros.html", "No explainers yet.", "Nothing yet.")),
    ("card template edit", lambda r: replace(r / "templates/_macros.html", '<p class="summary">', '<p class="summary lead">')),
    ("layout edit", lambda r: replace(r / "templates/base.html", "Every claim on this site", "Each claim on this site")),
    # A layout that fails where the page is put together around kept blocks reports what a full build does.
    ("broken layout", lambda r: replace(r / "templates/base.html", "<footer", "{{ site.nope }}<footer")),
    ("fixed layout", lambda r: replace(r / "templates/base.html", "{{ site.nope }}<footer", "<footer")),
    ("page block the layout does not use",
     lambda r: replace(r / "templates/story.html", "{% block main %}",
                       "{% block aside %}<aside>{{ facts.headline }}</aside>{% endblock %}\n{% block main %}")),
    ("layout uses it", lambda r: replace(r / "templates/base.html", "</main>", "</main>\n{% block aside %}{% endblock %}")),
    # Each of these makes a page block depend on the layout: pages are then rendered whole.
    ("layout includes a part that sees the page", lambda r: include_part(r)),
    ("layout edit beside the include", lambda r: replace(r / "templates/base.html", "Each claim on this site", "Any claim on this site")),
    ("include dropped", lambda r: replace(r / "templates/base.html", '{% include "_part.html" %}', "")),
    ("page has code outside its blocks",
     lambda r: replace(r / "templates/story.html", "{% block aside %}", "{% if facts.draft %}{% endif %}\n{% block aside %}")),
    ("layout edit after it", lambda r: replace(r / "templates/base.html", "Any claim on this site", "Each claim on this site")),
    ("code outside the blocks dropped", lambda r: replace(r / "templates/story.html", "{% if facts.draft %}{% endif %}\n", "")),
    ("page block that escapes",
     lambda r: replace(r / "templates/story.html", "{% block aside %}", "{% block aside %}{% set b %}<b>{% endset %}{{ b }}")),
    ("layout stops escaping it", lambda r: replace(
        r / "templates/base.html", "{% block aside %}{% endblock %}", "{% autoescape false %}{% block aside %}{% endblock %}{% endautoescape %}")),
    ("layout escapes again", lambda r: replace(
        r / "templates/base.html", "{% autoescape false %}{% block aside %}{% endblock %}{% endautoescape %}", "{% block aside %}{% endblock %}")),
    ("page block for a loop", lambda r: replace(
        r / "templates/story.html", "{% block main %}", "{% block repeat %}<i>{{ page is number }}</i>{% endblock %}\n{% block main %}")),
    ("layout repeats it in a scoped loop", lambda r: replace(
        r / "templates/base.html", "</main>", "</main>{% for page in [1, 2] %}{% block repeat scoped %}{% endblock %}{% endfor %}")),
    ("layout loops over other things", lambda r: replace(r / "templates/base.html", "{% for page in [1, 2] %}", "{% for page in ['a'] %}")),
    ("loop dropped", lambda r: replace(r / "templates/base.html", "{% for page in ['a'] %}{% block repeat scoped %}{% endblock %}{% endfor %}", "")),
    ("layout uses the page",
     lambda r: replace(r / "templates/base.html", "</main>", "</main>{% if page is defined %}<p>{{ page.story.slug }}</p>{% endif %}")),
    ("layout edit again", lambda r: replace(r / "templates/base.html", "Each claim on this site", "Every claim on this site")),
    ("css edit", lambda r: replace(r / "templates/static/style.css", "--accent: #0b57a4;", "--accent: #0a4f96;")),
    ("publisher renamed", lambda r: replace(r / "content/publishers.yaml", "name: The Daily", "name: The Daily Paper")),
    ("site title edit", lambda r: replace(r / "content/site.yaml", "title: Golden explainers", "title: Golden")),
    ("broken save", lambda r: replace(r / STORY / "facts.yaml", "sources: [daily-report]\n    status", "sources: [nowhere]\n    status")),
    ("fixed save", lambda r: replace(r / STORY / "facts.yaml", "sources: [nowhere]", "sources: [daily-report]")),
    ("broken template", lambda r: replace(r / "templates/_macros.html", "<article>", "<article>{{ story.nope }}")),
    ("fixed template", lambda r: replace(r / "templates/_macros.html", "<article>{{ story.nope }}", "<article>")),
    ("same bytes rewritten", lambda r: (r / STORY / "facts.yaml").write_bytes((r / STORY / "facts.yaml").read_bytes())),
    ("topic added", lambda r: replace(r / STORY / "facts.yaml", "topics: [space, infrastructure]", "topics: [space, infrastructure, policy]")),
    ("output edited by hand", lambda r: (r / "site/first-story/index.html").write_text("vandalised\n")),
    ("output deleted by hand", lambda r: (r / "site/topics/policy/index.html").unlink()),
    ("output folder removed", lambda r: shutil.rmtree(r / "site")),  # the cache expects to change part of it
    ("ignored folder in a story", lambda r: (r / STORY / "notes").mkdir() or (r / STORY / "notes/todo.txt").write_text("x\n")),
    ("link deep in that folder", lambda r: (r / STORY / "notes/link").symlink_to("/etc/hostname")),
    ("ignored folder removed", lambda r: shutil.rmtree(r / STORY / "notes")),
    ("cache deleted", lambda r: shutil.rmtree(r / ".cache")),
]
STEP = dict(STEPS)


@pytest.fixture
def site_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(FIXTURES / "golden" / "content", tmp_path / "content")
    shutil.copytree(TEMPLATES, tmp_path / "templates")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(*argv: str) -> tuple[int, str]:
    """The command line in this process: (exit status, all it printed)."""
    out = io.StringIO()
    with redirect_stdout(out), redirect_stderr(out):
        status = main(list(argv))
    return status, out.getvalue()


def diagnostics(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if ": error: " in line or ": warning: " in line]


def without_building(monkeypatch: pytest.MonkeyPatch, *argv: str) -> tuple[int, str]:
    """The command line, in a run that must stop at the fingerprint: building anything fails the test."""
    def refuse(*args: object, **kwargs: object) -> object:
        raise AssertionError("built although nothing changed")

    with monkeypatch.context() as m:
        m.setattr(builder, "build", refuse)
        return run(*argv)


@pytest.mark.parametrize("jobs", [1, 2])
def test_cli_builds_with_the_cache_equal_full_builds_after_every_edit(site_root: Path, jobs: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parallel, "CHUNK", 1)  # three stories are enough to use worker processes
    settled_at_once(monkeypatch)
    assert run("build", "--jobs", str(jobs))[0] == 0
    rewrote: dict[str, str] = {}
    for name, step in STEPS:
        step(site_root)
        before = snapshot(site_root / "site", skip_marker=True)
        status, err = run("build", "--jobs", str(jobs))
        full_status, full_err = run("build", "--no-cache", "--out", "fresh", "--jobs", str(jobs))
        assert status == full_status, (name, err, full_err)
        assert diagnostics(err) == diagnostics(full_err), name
        if full_status == 0:
            assert snapshot(site_root / "site", skip_marker=True) == snapshot(site_root / "fresh", skip_marker=True), name
            rewrote[name] = err.splitlines()[-1]
            # What the build recorded of the output folder, mostly without looking again, is what is there.
            assert load_state(str(cache_file(site_root)))[0].site_entries == fingerprint.output_entries("site"), name
            if name != "link deep in that folder":  # a link anywhere: the fingerprint cannot vouch for it
                again, again_err = without_building(monkeypatch, "build", "--jobs", str(jobs))
                assert again == 0 and diagnostics(again_err) == diagnostics(err), name
                assert again_err.splitlines()[-1].startswith("wrote 0 of "), name
                assert snapshot(site_root / "site", skip_marker=True) == snapshot(site_root / "fresh", skip_marker=True), name
        else:
            assert snapshot(site_root / "site", skip_marker=True) == before, name  # a failed build changes nothing
    # The cache did spare work: a narrative edit rewrites that story's page and facts.json only.
    assert rewrote["narrative edit"].startswith("wrote 2 of "), rewrote["narrative edit"]
    assert rewrote["cache deleted"].startswith("built "), rewrote["cache deleted"]


def test_an_unchanged_site_is_not_rendered_again(site_root: Path) -> None:
    assert run("build")[0] == 0
    state, why = load_state(str(cache_file(site_root)))
    assert why is None and state.outputs
    result = build("content", "templates", state=state, out_dir="site")
    assert result.ok() and result.files == {} and result.kept == set(state.outputs)
    replace(site_root / STORY / "explainer.md", "Pads are scarce", "Pads are rare")
    result = build("content", "templates", state=state, out_dir="site")
    assert set(result.files) == {"first-story/index.html", "first-story/facts.json"}


def record_calls(monkeypatch: pytest.MonkeyPatch, owner: object, name: str, which: int = 0) -> list[object]:
    """Argument number ``which`` of every call of ``owner.name`` from now on, in order; the calls still go through."""
    seen: list[object] = []
    original = getattr(owner, name)

    def recording(*args: object, **kwargs: object) -> object:
        seen.append(args[which])
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, recording)
    return seen


def count_story_keys(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """The slugs whose output keys each build digests, in order."""
    return record_calls(monkeypatch, builder.Renderer, "story_keys", which=1)  # after self


def test_a_one_story_rebuild_takes_the_other_stories_keys_as_recorded(site_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert run("build")[0] == 0
    asked = count_story_keys(monkeypatch)
    replace(site_root / STORY / "explainer.md", "Pads are scarce", "Pads are rare")
    status, err = run("build")
    assert status == 0 and err.splitlines()[-1].startswith("wrote 2 of "), err
    assert set(asked) == {"first-story"}  # the other shown story's keys were the recorded ones
    # An output changed by hand is not as recorded: its story's keys are digested again, and it is rendered.
    (site_root / "site/second-story/facts.json").write_text("{}\n")
    asked.clear()
    status, err = run("build")
    assert status == 0 and set(asked) == {"second-story"} and err.splitlines()[-1].startswith("wrote 1 of "), err


def test_a_story_edited_in_a_failed_build_is_rendered_once_the_build_succeeds(site_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The failed build records the edited story but not its outputs: the next one must not take their old keys for its."""
    assert run("build")[0] == 0
    replace(site_root / STORY / "explainer.md", "Pads are scarce", "Pads are rare")
    second = site_root / "content/stories/second-story/facts.yaml"
    replace(second, "sources: [wire]", "sources: [nowhere]")
    assert run("build")[0] == 1
    asked = count_story_keys(monkeypatch)
    replace(second, "sources: [nowhere]", "sources: [wire]")
    status, err = run("build")
    assert status == 0 and "first-story" in asked, err
    assert "Pads are rare" in (site_root / "site/first-story/index.html").read_text()
    assert run("build", "--no-cache", "--out", "fresh")[0] == 0
    assert snapshot(site_root / "site", skip_marker=True) == snapshot(site_root / "fresh", skip_marker=True)


def fingerprint_file(root: Path) -> Path:
    return Path(fingerprint.fingerprint_path(str(cache_file(root))))


def settled_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every build leaves a fingerprint, even a moment after an edit."""
    monkeypatch.setattr(fingerprint, "SETTLED_NS", 0)
    monkeypatch.setattr(fingerprint, "COARSE_SETTLED_NS", 0)


def test_a_rebuild_with_nothing_to_do_stops_at_the_fingerprint(site_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (site_root / STORY / "notes.txt").write_text("to do\n")  # a warning, which the shortcut must print again
    # Inputs changed a moment ago could change again within the same tick of the file system's
    # clock, unseen by their signatures: no fingerprint then, and the next build looks properly.
    monkeypatch.setattr(fingerprint, "SETTLED_NS", 60_000_000_000)
    status, err = run("build")
    assert status == 0 and len(diagnostics(err)) == 1
    assert not fingerprint_file(site_root).exists()
    settled_at_once(monkeypatch)
    assert run("build")[0] == 0 and fingerprint_file(site_root).exists()
    status, again = without_building(monkeypatch, "build")
    assert status == 0 and diagnostics(again) == diagnostics(err) and "wrote 0 of " in again
    # --strict fails on that warning, as a full build would, rather than taking the shortcut.
    status, strict = run("build", "--strict")
    assert status == 1 and "build failed: 0 error(s), 1 warning(s)" in strict


def test_story_signatures_are_taken_from_the_fingerprints_walk(site_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The build reuses the stat the fingerprint took of each story folder and file: the same signature, not asked again."""
    seen: dict[str, os.stat_result] = {}
    fingerprint.inputs_digest("content", "templates", seen)
    folders = [os.path.join("content", "stories", name) for name in sorted(os.listdir("content/stories"))]
    asked = [loader.story_signature(folder) for folder in folders]

    def refuse(*args: object, **kwargs: object) -> object:
        raise AssertionError("stat asked again")

    with monkeypatch.context() as m:
        m.setattr(os, "stat", refuse)
        assert [loader.story_signature(folder, seen) for folder in folders] == asked
    replace(site_root / STORY / "explainer.md", "Pads are scarce", "Pads are rare")
    assert loader.story_signature(os.path.join("content", "stories", "first-story"), seen) == asked[folders.index(STORY)]  # as seen before the edit
    assert loader.story_signature(os.path.join("content", "stories", "first-story")) != asked[folders.index(STORY)]


def test_a_file_put_in_the_output_by_hand_is_seen_after_an_incremental_build(site_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settled_at_once(monkeypatch)
    assert run("build")[0] == 0
    replace(site_root / STORY / "explainer.md", "Pads are scarce", "Pads are rare")
    assert run("build")[0] == 0  # its fingerprint comes from the entries it looked at again
    assert without_building(monkeypatch, "build")[0] == 0
    (site_root / "site/first-story/notes.txt").write_text("mine\n")
    calls: list[object] = []
    original = builder.build

    def counted(*args: object, **kwargs: object) -> object:
        calls.append(args)
        return original(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(builder, "build", counted)
    assert run("build")[0] == 0 and calls  # not the shortcut: the folder is not as the build left it
    assert (site_root / "site/first-story/notes.txt").read_text() == "mine\n"
    assert without_building(monkeypatch, "build")[0] == 0  # that build looked, once, and the shortcut is back
    replace(site_root / STORY / "explainer.md", "Pads are rare", "Pads are few")
    assert run("build")[0] == 0
    assert without_building(monkeypatch, "build")[0] == 0  # the file stays known after an incremental build


def test_a_build_drops_the_fingerprint_before_it_writes(site_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settled_at_once(monkeypatch)
    assert run("build")[0] == 0 and fingerprint_file(site_root).exists()
    replace(site_root / STORY / "facts.yaml", "sources: [daily-report]\n    status", "sources: [nowhere]\n    status")

    def killed(*args: object, **kwargs: object) -> object:
        assert not fingerprint_file(site_root).exists()  # a build killed from here on leaves none
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(builder, "build", killed)
        assert run("build")[0] == 130
    assert not fingerprint_file(site_root).exists()
    assert run("build")[0] == 1  # the broken save is seen, not skipped


def test_files_written_by_a_build_killed_before_it_saved_its_state_are_removed_later(site_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The state is then older than the site: what it does not know of in the output folder must not outlive its story."""
    assert run("build")[0] == 0
    STEP["story added"](site_root)

    def killed(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(cache, "save_state", killed)
        assert run("build")[0] == 130
    assert (site_root / "site/third-story/index.html").is_file()  # the site was written, its state not saved
    STEP["story deleted"](site_root)
    status, err = run("build")
    assert status == 0 and "building it whole" in err, err
    assert run("build", "--no-cache", "--out", "fresh")[0] == 0
    assert snapshot(site_root / "site", skip_marker=True) == snapshot(site_root / "fresh", skip_marker=True)


_STORY_CHUNK = builder._story_chunk


def _chunk_checking_the_store(jobs: list[builder._Job]) -> builder._Done:
    """builder._story_chunk, after checking that a worker holds no connection opened by its parent (module level: sent to workers)."""
    store = builder._CONTEXT.state.pages if builder._CONTEXT is not None else None
    inherited = isinstance(store, cache.PageStore) and store._db is not None and store._pid != os.getpid()
    assert not inherited, "a forked worker holds the parent's SQLite connection"
    return _STORY_CHUNK(jobs)


def test_workers_never_inherit_an_open_page_store_connection(site_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parallel, "CHUNK", 1)  # three stories are enough to use worker processes
    monkeypatch.setattr(builder, "_story_chunk", _chunk_checking_the_store)
    assert run("build", "--jobs", "2")[0] == 0  # the site's files were looked up in the store before the workers start
    replace(site_root / "templates/story.html", "Key takeaways", "The key points")
    assert run("build", "--jobs", "2")[0] == 0


def test_preview_builds_equal_full_builds_after_every_edit(site_root: Path) -> None:
    """The preview's path: a state in memory (with parsed stories) and files updated in place."""
    state = BuildState(in_memory=True)
    out = str(site_root / "site")
    result = build("content", "templates", state=state, out_dir=out)
    write_site(out, result.files)
    state.record_outputs(out, result.keys, None, result.contexts)
    for name, step in STEPS:
        if name == "cache deleted":
            continue
        step(site_root)
        result = build("content", "templates", state=state, out_dir=out)
        full = build("content", "templates")
        assert result.report.sorted() == full.report.sorted(), name
        assert result.ok() == full.ok(), name
        if full.ok():
            update_site(out, result.files, set(state.outputs) - set(result.keys))
            state.record_outputs(out, result.keys, set(result.files), result.contexts)
            write_site(str(site_root / "fresh"), full.files)
            assert snapshot(site_root / "site", skip_marker=True) == snapshot(site_root / "fresh", skip_marker=True), name


def test_the_state_follows_the_site_not_the_history(site_root: Path) -> None:
    """However many saves, the state holds one record per story and the list entries of the current site."""
    state = BuildState(in_memory=True)
    build("content", "templates", state=state, out_dir="site")
    facts = site_root / STORY / "facts.yaml"
    original = facts.read_text()
    for i in range(20):
        facts.write_text(original.replace("A pad was damaged", f"A pad was damaged ({i})"))
        assert build("content", "templates", state=state, out_dir="site").ok()
    assert len(state.stories) == 3
    assert len(state.fragments) == 3 * 2  # two published stories, three list entries each


def cache_file(root: Path) -> Path:
    files = list((root / ".cache").glob("build-*.pickle"))
    assert len(files) == 1
    return files[0]


def attack(module: str, name: str, argument: str) -> bytes:
    """A protocol 4 pickle that calls module.name(argument) when loaded, if the unpickler lets it."""
    def text(value: str) -> bytes:
        return b"\x8c" + bytes([len(value)]) + value.encode()

    return b"\x80\x04" + text(module) + text(name) + b"\x93" + text(argument) + b"\x85R."


ATTACKS = {
    "foreign object": b"cos\nsystem\n(S'touch pwned'\ntR.",
    "dotted name": attack("explainer.cache", "os.system", "touch pwned"),
    "own function": attack("explainer.writer", "remove_tree", "canary"),
}


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty", "other version", "older format", *ATTACKS])
def test_a_damaged_or_foreign_cache_means_a_full_build(site_root: Path, damage: str) -> None:
    assert run("build")[0] == 0
    path = cache_file(site_root)
    data = path.read_bytes()
    header, _, body = data.partition(b"\n")
    if damage == "garbage":
        path.write_bytes(b"\x80\x05not a pickle at all" * 50)
    elif damage == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "empty":
        path.write_bytes(b"")
    elif damage == "other version":
        state, _ = load_state(str(path))
        state.version = "an older generator"
        save_state(str(path), state)
    elif damage == "older format":
        path.write_bytes(body)  # a bare pickle, as code before the header wrote: its classes may no longer load
    else:
        # A pickle that would run a command or remove a folder when loaded, behind a header that
        # says this very version wrote it: refused, never executed.
        (site_root / "canary").mkdir()
        path.write_bytes(header + b"\n" + ATTACKS[damage])
    replace(site_root / STORY / "explainer.md", "Pads are scarce", "Pads are rare")
    status, err = run("build")
    assert status == 0, err
    assert "is not used" in err and "building everything" in err
    if damage in ("other version", "older format"):
        assert "version of the generator" in err
    assert not (site_root / "pwned").exists()
    assert damage not in ATTACKS or (site_root / "canary").is_dir()
    assert run("build", "--no-cache", "--out", "fresh")[0] == 0
    assert snapshot(site_root / "site", skip_marker=True) == snapshot(site_root / "fresh", skip_marker=True)
    assert load_state(str(cache_file(site_root)))[1] is None  # the next build saved a good one


def changes_file(root: Path) -> Path:
    return Path(fingerprint.changes_path(str(cache_file(root))))


def build_and_save(root: Path) -> BuildState:
    """What the command line does with its cache, in this process: load, build, write the site, save; the state saved."""
    path = str(cache_file(root))
    state, why = load_state(path)
    assert why is None
    result = build("content", "templates", state=state, out_dir="site")
    assert result.ok()
    removed = set(state.outputs) - set(result.keys)
    update_site("site", result.files, removed)
    state.record_outputs("site", result.keys, set(result.files), result.contexts)
    state.site_entries = fingerprint.update_entries(state.site_entries or {}, "site", (*result.files, *removed, MARKER))
    save_state(path, state)
    return state


def same_tables(loaded: BuildState, saved: BuildState) -> bool:
    return (loaded.stories, dict(loaded.fragments), loaded.outputs, loaded.marker, loaded.analyses, loaded.site_entries) == (
        saved.stories, {key: str(text) for key, text in saved.fragments.items()}, saved.outputs, saved.marker, saved.analyses, saved.site_entries)


def test_a_small_change_is_appended_to_the_saved_state_and_loads_back_whole(site_root: Path) -> None:
    assert run("build")[0] == 0
    snapshot = cache_file(site_root).read_bytes()
    steps = [
        lambda: replace(site_root / STORY / "explainer.md", "Pads are scarce", "Pads are rare"),
        lambda: replace(site_root / STORY / "facts.yaml", "A pad was damaged", "A launch pad was damaged"),  # list entries change too
        lambda: shutil.rmtree(site_root / "content/stories/second-story"),  # entries go
    ]
    sizes = []
    for step in steps:
        step()
        saved = build_and_save(site_root)
        assert cache_file(site_root).read_bytes() == snapshot  # not written again
        sizes.append(changes_file(site_root).stat().st_size)
        loaded, why = load_state(str(cache_file(site_root)))
        assert why is None and same_tables(loaded, saved)
        assert loaded.site_entries == fingerprint.output_entries("site")  # kept in step, folders gone included
    appended = [b - a for a, b in zip([0, *sizes[:-1]], sizes, strict=True)]
    assert all(0 < size < len(snapshot) for size in appended), (appended, len(snapshot))  # each a change, not the state again


@pytest.mark.parametrize("damage", ["cut short", "changed byte", "another snapshot's", "foreign object"])
def test_damaged_changes_cost_only_time_and_the_next_save_starts_afresh(site_root: Path, damage: str) -> None:
    assert run("build")[0] == 0
    replace(site_root / STORY / "explainer.md", "Pads are scarce", "Pads are rare")
    assert run("build")[0] == 0
    changes = changes_file(site_root)
    data = changes.read_bytes()
    header, _, entries = data.partition(b"\n")
    if damage == "cut short":  # as a build killed while it appended leaves them
        changes.write_bytes(data[:-7])
    elif damage == "changed byte":
        changes.write_bytes(data[:-20] + bytes([data[-20] ^ 1]) + data[-19:])
    elif damage == "another snapshot's":
        other = b"0" if header[-1:] != b"0" else b"1"  # one character of the token changed
        changes.write_bytes(header[:-1] + other + b"\n" + entries)
    else:  # an entry whose digest is right but which would run a command when loaded: refused
        payload = ATTACKS["foreign object"]
        changes.write_bytes(header + b"\n" + struct.pack(">I16s", len(payload), hashlib.blake2b(payload, digest_size=16).digest()) + payload)
    replace(site_root / STORY / "facts.yaml", "A pad was damaged", "A launch pad was damaged")
    before = cache_file(site_root).stat()
    status, err = run("build")
    assert status == 0, err
    assert not (site_root / "pwned").exists()
    assert run("build", "--no-cache", "--out", "fresh")[0] == 0
    assert snapshot(site_root / "site", skip_marker=True) == snapshot(site_root / "fresh", skip_marker=True)
    # The next save did not append after what it could not read: a new snapshot, and no changes yet.
    assert (cache_file(site_root).stat().st_ino, cache_file(site_root).stat().st_mtime_ns) != (before.st_ino, before.st_mtime_ns)
    assert not changes.exists()
    assert load_state(str(cache_file(site_root)))[1] is None


def test_changes_that_cannot_be_removed_are_ignored_and_the_next_save_starts_afresh(site_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert run("build")[0] == 0
    replace(site_root / STORY / "explainer.md", "Pads are scarce", "Pads are rare")
    assert run("build")[0] == 0 and changes_file(site_root).exists()
    path = str(cache_file(site_root))
    state, _ = load_state(path)
    state.saved = None  # a new snapshot, whose old changes cannot be removed
    real_remove = os.remove

    def refuse(name: str) -> None:
        if name == str(changes_file(site_root)):
            raise PermissionError(13, "Permission denied")
        real_remove(name)

    with monkeypatch.context() as m:
        m.setattr(os, "remove", refuse)
        save_state(path, state)
    assert changes_file(site_root).exists() and state.saved is not None and state.saved.changes_end == -1
    loaded, why = load_state(path)  # the changes of the snapshot before are not applied to this one
    assert why is None and same_tables(loaded, state)
    save_state(path, state)  # not appended after them: a new snapshot, and they go
    assert not changes_file(site_root).exists()


def test_the_state_is_written_whole_again_once_its_changes_grow(site_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cache, "CHANGES_FLOOR", 0)  # only the share of the snapshot counts
    monkeypatch.setattr(cache, "CHANGES_SHARE", 4)  # a share the few changes below outgrow, of a small site's state
    assert run("build")[0] == 0
    first = cache_file(site_root).read_bytes()
    written_whole = 0
    for i in range(12):
        replace(site_root / STORY / "facts.yaml", "A pad was damaged" if i == 0 else f"damaged {i - 1}", f"damaged {i}")
        saved = build_and_save(site_root)
        if not changes_file(site_root).exists():
            written_whole += 1
            assert cache_file(site_root).read_bytes() != first
        else:
            assert changes_file(site_root).stat().st_size <= len(cache_file(site_root).read_bytes()) // cache.CHANGES_SHARE
        loaded, why = load_state(str(cache_file(site_root)))
        assert why is None and same_tables(loaded, saved)
    assert written_whole >= 2


def test_a_cache_deleted_during_a_build_costs_nothing_but_time(site_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert run("build")[0] == 0
    original = builder.load_site

    def load_and_delete(*args: object, **kwargs: object) -> object:
        shutil.rmtree(site_root / ".cache")
        return original(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(builder, "load_site", load_and_delete)
    replace(site_root / STORY / "facts.yaml", "A pad was damaged", "A launch pad was damaged")
    status, err = run("build")
    assert status == 0, err
    monkeypatch.setattr(builder, "load_site", original)
    assert run("build", "--no-cache", "--out", "fresh")[0] == 0
    assert snapshot(site_root / "site", skip_marker=True) == snapshot(site_root / "fresh", skip_marker=True)


def test_the_cache_is_kept_outside_the_output_and_ignored_by_git(site_root: Path) -> None:
    assert run("build")[0] == 0
    assert (site_root / ".cache").is_dir() and not any(p.name.endswith(".pickle") for p in (site_root / "site").rglob("*"))
    from .conftest import ROOT

    assert "/.cache/" in (ROOT / ".gitignore").read_text().splitlines()


def test_a_damaged_page_store_means_parsing_again(site_root: Path) -> None:
    assert run("build")[0] == 0
    store = next((site_root / ".cache").glob("*.pages.sqlite"))
    store.write_bytes(b"this is not a database" * 100)
    replace(site_root / "templates/story.html", "Key takeaways", "The key points")  # pages come from the store after a template edit
    status, out = run("build")
    assert status == 0, out
    assert run("build", "--no-cache", "--out", "fresh")[0] == 0
    assert snapshot(site_root / "site", skip_marker=True) == snapshot(site_root / "fresh", skip_marker=True)
    assert store.read_bytes().startswith(b"SQLite format 3")  # replaced by a working store


@pytest.mark.parametrize("damage", list(ATTACKS))
def test_a_planted_page_store_row_is_refused(site_root: Path, damage: str) -> None:
    assert run("build")[0] == 0
    (site_root / "canary").mkdir()
    store = next((site_root / ".cache").glob("*.pages.sqlite"))
    with sqlite3.connect(store) as db:
        db.execute("UPDATE pages SET data = ?", (compress(ATTACKS[damage]),))
    db.close()
    replace(site_root / "templates/story.html", "Key takeaways", "The key points")  # pages come from the store
    status, out = run("build")
    assert status == 0, out
    assert not (site_root / "pwned").exists() and (site_root / "canary").is_dir()
    assert run("build", "--no-cache", "--out", "fresh")[0] == 0
    assert snapshot(site_root / "site", skip_marker=True) == snapshot(site_root / "fresh", skip_marker=True)


def count_yaml_parses(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """The YAML files each build parses, as shown."""
    return record_calls(monkeypatch, loader, "parse_yaml")


def test_narrative_edits_parse_no_yaml(site_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The site's files are kept as converted, and a story's facts with its stored page; with their warnings, for the same bytes only."""
    # A headline the YAML cuts at ' #': a warning the conversion makes, which kept conversions must report again.
    replace(site_root / STORY / "facts.yaml", 'headline: "A pad was damaged: what we know"', "headline: A pad was damaged #1")
    assert run("build")[0] == 0
    parsed = count_yaml_parses(monkeypatch)
    narrative = site_root / STORY / "explainer.md"
    for old, new in [("Pads are scarce", "Pads are rare"), ("Pads are rare", "Pads are few")]:
        replace(narrative, old, new)
        parsed.clear()
        status, err = run("build")
        assert parsed == [], old
        full_status, full_err = run("build", "--no-cache", "--out", "fresh")
        assert status == full_status == 0 and diagnostics(err) == diagnostics(full_err) and len(diagnostics(err)) == 1, err
        assert snapshot(site_root / "site", skip_marker=True) == snapshot(site_root / "fresh", skip_marker=True)
    # The facts edited: converted again, and never taken from what was kept of the old bytes.
    replace(site_root / STORY / "facts.yaml", "A pad was damaged #1", "A launch pad was damaged")
    parsed.clear()
    status, err = run("build")
    assert status == 0 and diagnostics(err) == [] and parsed == [f"{STORY}/facts.yaml"], err
    assert "A launch pad was damaged" in (site_root / "site/first-story/index.html").read_text()
    # So is site.yaml. Every story is read again then, each rendered one's facts taken from its page
    # (the draft's page is not rendered, so not stored).
    replace(site_root / "content/site.yaml", "title: Golden explainers", "title: Golden")
    parsed.clear()
    assert run("build")[0] == 0 and parsed == ["content/site.yaml", "content/stories/draft-story/facts.yaml"]


@pytest.mark.parametrize("damage", ["another story's page", "another file's conversion", *ATTACKS])
def test_a_planted_conversion_is_refused(site_root: Path, monkeypatch: pytest.MonkeyPatch, damage: str) -> None:
    assert run("build")[0] == 0
    (site_root / "canary").mkdir()
    store = next((site_root / ".cache").glob("*.pages.sqlite"))
    with sqlite3.connect(store) as db:
        pages = dict(db.execute("SELECT slug, data FROM pages"))
        kept = dict(db.execute("SELECT shown, data FROM site_files"))
        assert set(kept) == {"content/site.yaml", "content/publishers.yaml"}
        if damage == "another story's page":  # its facts came from another file
            db.execute("UPDATE pages SET data = ? WHERE slug = 'first-story'", (pages["second-story"],))
            expected = [f"{STORY}/facts.yaml"]
        elif damage == "another file's conversion":  # the publishers where the site's settings belong
            db.execute("UPDATE site_files SET data = ? WHERE shown = 'content/site.yaml'", (kept["content/publishers.yaml"],))
            expected = ["content/site.yaml"]
        else:
            db.execute("UPDATE site_files SET data = ? WHERE shown = 'content/site.yaml'", (compress(ATTACKS[damage]),))
            expected = ["content/site.yaml"]
    db.close()
    parsed = count_yaml_parses(monkeypatch)
    replace(site_root / STORY / "explainer.md", "Pads are scarce", "Pads are rare")
    status, out = run("build")
    assert status == 0, out
    assert parsed == expected  # refused, so converted again
    assert not (site_root / "pwned").exists() and (site_root / "canary").is_dir()
    assert run("build", "--no-cache", "--out", "fresh")[0] == 0
    assert snapshot(site_root / "site", skip_marker=True) == snapshot(site_root / "fresh", skip_marker=True)


def test_a_template_edit_renders_pages_from_the_store_without_parsing(site_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert run("build")[0] == 0
    parsed = record_calls(monkeypatch, builder, "load_story")
    replace(site_root / "templates/story.html", "Key takeaways", "The key points")
    status, out = run("build")
    assert status == 0, out
    assert "The key points" in (site_root / "site/first-story/index.html").read_text()
    assert parsed == []  # every page came from the store
    assert run("build", "--no-cache", "--out", "fresh")[0] == 0
    assert snapshot(site_root / "site", skip_marker=True) == snapshot(site_root / "fresh", skip_marker=True)


@pytest.mark.parametrize("kept", ["good", "damaged"])
def test_a_layout_edit_puts_pages_together_around_their_kept_blocks(site_root: Path, monkeypatch: pytest.MonkeyPatch, kept: str) -> None:
    from explainer.cache import PageStore

    assert run("build")[0] == 0
    if kept == "damaged":
        with sqlite3.connect(next((site_root / ".cache").glob("*.pages.sqlite"))) as db:
            # Well-formed, but a block that is not text: read back, it must be refused, not used.
            db.execute("UPDATE bodies SET data = ?", (compress(pickle.dumps(({"main": 1}, ""))),))
        db.close()
    fetched: list[str] = []
    original = PageStore.get

    def counting(self: PageStore, slug: str, key: bytes) -> object:
        fetched.append(slug)
        return original(self, slug, key)

    monkeypatch.setattr(PageStore, "get", counting)
    replace(site_root / "templates/base.html", "Every claim on this site", "Each claim on this site")
    status, out = run("build")
    assert status == 0, out
    assert "Each claim on this site" in (site_root / "site/first-story/index.html").read_text()
    # Kept blocks spare even the stored page; damaged ones are not used, and the page comes from the store.
    assert sorted(fetched) == ([] if kept == "good" else ["first-story", "second-story"])
    assert run("build", "--no-cache", "--out", "fresh")[0] == 0
    assert snapshot(site_root / "site", skip_marker=True) == snapshot(site_root / "fresh", skip_marker=True)


def other_writer(root: Path) -> None:
    """A `build` for production into the preview's folder, then a save."""
    assert run("build", "--base-url", "https://elsewhere.example/")[0] == 0
    replace(root / STORY / "explainer.md", "Pads are rare", "Pads are very rare")


def test_preview_builds_told_what_changed_equal_full_builds(site_root: Path) -> None:
    """The preview looks only at the story folders the watcher names; the site is still what a full build gives."""
    from explainer.serve import Preview, Rebuilder

    args = argparse.Namespace(content=str(site_root / "content"), templates=str(site_root / "templates"), out=str(site_root / "site"), drafts=False)
    rebuilder = Rebuilder(args, Preview(), lambda: None)
    assert rebuilder.build_once()
    stories = site_root / "content/stories"
    renamed = stories / "renamed-story"
    edits: list[tuple[str, Step, list[Path]]] = [
        ("narrative edit", STEP["narrative edit"], [site_root / STORY / "explainer.md"]),
        ("headline edit", STEP["headline edit"], [site_root / STORY / "facts.yaml"]),
        ("story added", STEP["story added"], [stories / "third-story", stories / "third-story/facts.yaml"]),
        ("story deleted", STEP["story deleted"], [stories / "third-story"]),
        ("story renamed", STEP["story renamed"], [stories / "second-story", stories / "renamed-story"]),
        ("stray file", STEP["stray file in a story"], [site_root / STORY / "notes.txt"]),
        ("template edit", STEP["template edit"], [site_root / "templates/story.html"]),
        ("publisher renamed", STEP["publisher renamed"], [site_root / "content/publishers.yaml"]),
        ("broken save", STEP["broken save"], [site_root / STORY / "facts.yaml"]),
        ("fixed save", STEP["fixed save"], [site_root / STORY / "facts.yaml"]),
        # A failed build that also took in a good story's edit: the build after it must not take
        # that story as the last successful build left it.
        ("broken save beside an edit", lambda r: (STEP["broken save"](r), replace(renamed / "facts.yaml", "A second,", "A 2nd,")),
         [site_root / STORY / "facts.yaml", renamed / "facts.yaml"]),
        ("fixed save alone", STEP["fixed save"], [site_root / STORY / "facts.yaml"]),
        ("headline edit after", lambda r: replace(r / STORY / "facts.yaml", "A launch pad", "The launch pad"), [site_root / STORY / "facts.yaml"]),
        ("another build wrote the folder", other_writer, [site_root / STORY / "explainer.md"]),
        ("folder emptied by hand", lambda r: [remove_tree(str(p)) if p.is_dir() else p.unlink() for p in (r / "site").iterdir()], []),
    ]
    for name, step, paths in edits:
        step(site_root)
        for path in paths:
            rebuilder.request(str(path))
        ok = rebuilder.build_once(touched=rebuilder._take_touched())
        full = build(str(site_root / "content"), str(site_root / "templates"))
        assert ok == full.ok(), name
        if ok:
            write_site(str(site_root / "fresh"), full.files)
            assert snapshot(site_root / "site", skip_marker=True) == snapshot(site_root / "fresh", skip_marker=True), name


def test_the_preview_is_told_which_stories_changed(site_root: Path) -> None:
    from explainer.serve import Preview, Rebuilder

    args = argparse.Namespace(content="content", templates="templates", out="site", drafts=False)
    rebuilder = Rebuilder(args, Preview(), lambda: None)
    rebuilder._take_touched()
    rebuilder.request(str(site_root / STORY / "facts.yaml"))
    rebuilder.request("content/stories/second-story/explainer.md")
    rebuilder.request(str(site_root / "templates/base.html"))
    assert rebuilder._take_touched() == {"first-story", "second-story"}
    rebuilder.request("content/site.yaml")
    rebuilder.request(str(site_root / STORY / "facts.yaml"))
    assert rebuilder._take_touched() is None  # every story may be concerned
    assert rebuilder._take_touched() == set()


def test_an_update_adds_new_files_before_it_replaces_the_pages_that_link_to_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "site"
    write_site(str(out), {"index.html": b"old home", "static/style.aaa.css": b"old style", "old/index.html": b"gone"})
    order: list[str] = []
    original = os.replace

    def recording(source: str, target: str) -> None:
        order.append(os.path.relpath(target, out))
        original(source, target)

    monkeypatch.setattr(os, "replace", recording)
    new = {"index.html": b"new home", "static/style.bbb.css": b"new style", "new/index.html": b"new page"}
    update_site(str(out), new, {"old/index.html", "static/style.aaa.css"})
    assert order.index("index.html") > max(order.index("static/style.bbb.css"), order.index("new/index.html"))
    assert snapshot(out, skip_marker=True) == new


def test_an_update_can_leave_the_replaced_files_aside_for_later(tmp_path: Path) -> None:
    out = tmp_path / "site"
    write_site(str(out), {"index.html": b"old home", "a/index.html": b"old a", "gone/index.html": b"gone"})
    new = {"index.html": b"new home", "b/index.html": b"new b"}
    aside = update_site(str(out), new, {"gone/index.html"}, keep_replaced=True)
    assert snapshot(out, skip_marker=True) == {**new, "a/index.html": b"old a"}  # the site is whole at once
    assert aside is not None and Path(aside).parent == tmp_path and Path(aside).name.startswith(".")
    # The old home page and the removed page are still held there, out of the site, until removed.
    assert sorted(p.read_bytes() for p in Path(aside).iterdir()) == [b"gone", b"old home"]
    remove_tree(aside)
    assert not Path(aside).exists()
    # One left behind (a preview stopped before removing it) goes with the next update.
    forgotten = update_site(str(out), {"index.html": b"newer home"}, set(), keep_replaced=True)
    assert forgotten is not None and Path(forgotten).exists()
    assert update_site(str(out), {"index.html": b"newest home"}, set()) is None
    assert not Path(forgotten).exists()
    assert [p.name for p in tmp_path.iterdir()] == ["site"]


def test_a_new_version_of_a_library_that_shapes_the_output_invalidates_the_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    from explainer import fingerprint

    installed = fingerprint._library_versions()
    assert any(name.lower().startswith("jinja2-") for name in installed) and any("markdown" in name for name in installed)
    before = fingerprint.code_version()
    monkeypatch.setattr(fingerprint, "_library_versions", lambda: [*installed[:-1], "pyyaml-99.0.dist-info"])
    fingerprint.code_version.cache_clear()
    try:
        assert fingerprint.code_version() != before
    finally:
        fingerprint.code_version.cache_clear()


def test_a_build_waits_while_another_writes_the_same_folder(site_root: Path) -> None:
    held, release = threading.Event(), threading.Event()

    def other() -> None:
        with output_lock("site"):
            held.set()
            release.wait(10)

    thread = threading.Thread(target=other)
    thread.start()
    held.wait(10)
    threading.Timer(0.5, release.set).start()
    status, out = run("build")
    thread.join()
    assert status == 0, out
    assert "waiting for another build writing site/ to finish" in out
    assert (site_root / "site/index.html").exists()


def test_a_damaged_compiled_template_is_compiled_again(site_root: Path) -> None:
    from jinja2.bccache import bc_magic

    assert run("build")[0] == 0
    compiled = list((site_root / ".cache/templates").iterdir())
    assert compiled
    for path in compiled:  # the header still matches; what follows is not code
        data = io.BytesIO(path.read_bytes())
        assert data.read(len(bc_magic)) == bc_magic
        pickle.load(data)  # the checksum (our own file, written by Jinja a moment ago)
        path.write_bytes(data.getvalue()[: data.tell()] + marshal.dumps(42))
    replace(site_root / STORY / "explainer.md", "Pads are scarce", "Pads are rare")
    status, out = run("build")
    assert status == 0, out
    assert run("build", "--no-cache", "--out", "fresh")[0] == 0
    assert snapshot(site_root / "site", skip_marker=True) == snapshot(site_root / "fresh", skip_marker=True)


def test_the_previews_first_template_edit_reuses_what_its_workers_computed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The preview's first build runs in workers; a template edit after it parses no story again and equals a full build."""
    from benchmarks.generate import generate
    from explainer.serve import Preview, Rebuilder

    generate(str(tmp_path), 3 * parallel.CHUNK)
    shutil.copytree(TEMPLATES, tmp_path / "templates")
    monkeypatch.chdir(tmp_path)
    rebuilder = Rebuilder(argparse.Namespace(content="content", templates="templates", out="site", drafts=False), Preview(), lambda: None)
    assert rebuilder.build_once(jobs=2)
    parsed: list[str] = []
    real_load = builder.load_story
    monkeypatch.setattr(builder, "load_story", lambda slug, *rest: parsed.append(slug) or real_load(slug, *rest))
    story = tmp_path / "content/stories/story-00001"
    edits: list[tuple[str, Callable[[], None], list[Path], bool]] = [
        ("layout edit", lambda: replace(tmp_path / "templates/base.html", "</footer>", "<!-- edited --></footer>"),
         [tmp_path / "templates/base.html"], False),
        ("story template edit", lambda: replace(tmp_path / "templates/story.html", "</h1>", "</h1>\n<!-- edited -->"),
         [tmp_path / "templates/story.html"], False),
        ("headline edit", lambda: replace(story / "facts.yaml", "headline: \"", "headline: \"Edited, "), [story / "facts.yaml"], True),
        ("layout edit again", lambda: replace(tmp_path / "templates/base.html", "<!-- edited -->", "<!-- again -->"),
         [tmp_path / "templates/base.html"], False),
    ]
    for name, edit, paths, reads_story in edits:
        parsed.clear()
        edit()
        for path in paths:
            rebuilder.request(str(path))
        assert rebuilder.build_once(touched=rebuilder._take_touched()), name
        assert parsed == (["story-00001"] if reads_story else []), name
        full = build("content", "templates")
        write_site(str(tmp_path / "fresh"), full.files)
        assert snapshot(tmp_path / "site", skip_marker=True) == snapshot(tmp_path / "fresh", skip_marker=True), name


@pytest.mark.parametrize("template", ["base.html", "story.html"])
def test_a_template_edit_built_in_workers_keeps_the_states_own_story_records(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, template: str) -> None:
    """Records a worker did not change stay the parent's objects: none is sent back, and the saved changes name no story."""
    from benchmarks.generate import generate

    generate(str(tmp_path), 3 * parallel.CHUNK)
    shutil.copytree(TEMPLATES, tmp_path / "templates")
    monkeypatch.chdir(tmp_path)
    state = BuildState()
    state.pages = cache.MemoryPageStore()
    first = build("content", "templates", state=state, out_dir="site", jobs=2)
    assert first.ok()
    write_site("site", first.files)
    state.record_outputs("site", first.keys, None)
    state.saved = cache.Saved.of(state, None, b"token", 1, 0)
    before = dict(state.stories)
    old = "</footer>" if template == "base.html" else "</h1>"
    replace(tmp_path / "templates" / template, old, "<!-- edited -->" + old)
    result = build("content", "templates", state=state, out_dir="site", jobs=2)
    assert result.ok()
    edited = {path.split("/")[0] for path, data in result.files.items() if path.endswith("/index.html") and b"<!-- edited -->" in data}
    assert edited >= before.keys()  # every story page was rendered again
    assert state.stories.keys() == before.keys()
    assert all(state.stories[slug] is before[slug] for slug in before)
    assert state.saved.changes(state)["stories"] == {}


def test_a_template_edit_parses_only_the_edited_template_to_analyse_them(site_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What the analyses learnt of each unchanged template is kept; the pages equal a full build's."""
    import jinja2

    state = BuildState()
    first = build("content", "templates", state=state, out_dir="site")
    assert first.ok()
    site = first.files
    write_site("site", site)
    state.record_outputs("site", first.keys, None)
    parsed: list[str] = []
    real_parse = jinja2.Environment.parse
    monkeypatch.setattr(jinja2.Environment, "parse", lambda env, source, *rest: parsed.append(source) or real_parse(env, source, *rest))
    for name, old in (("base.html", "</footer>"), ("story.html", "</h1>"), ("_macros.html", "</article>")):
        parsed.clear()
        edited = site_root / "templates" / name
        replace(edited, old, "<!-- edited -->" + old)
        result = build("content", "templates", state=state, out_dir="site")
        assert parsed == [edited.read_text(encoding="utf-8")], name
        site = {path: result.files.get(path) or site[path] for path in result.keys}
        assert site == build("content", "templates").files, name
        write_site("site", site)
        state.record_outputs("site", result.keys, None)
