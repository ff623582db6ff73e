"""The command line: build, check, serve and new. Exit 0 success, 1 content errors, 2 usage errors."""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, TextIO

from . import fingerprint
from .parallel import cores
from .progress import Progress

if TYPE_CHECKING:
    from .builder import BuildResult
    from .cache import BuildState
    from .render import RenderOptions
    from .writer import StagedSite

# The modules that build are imported only once a build has something to do: a rebuild with
# nothing to do stops after one look at the files (see fingerprint), in less time than they take to import.


class UsageError(Exception):
    """The command line asks for something impossible; exit status 2."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python build.py", description="Build a site of news explainers whose every claim shows its sources.")
    sub = parser.add_subparsers(dest="command")

    def folders(p: argparse.ArgumentParser, out: bool = True) -> None:
        p.add_argument("--content", default="content", metavar="DIR", help="the content folder (default: content)")
        p.add_argument("--templates", default="templates", metavar="DIR", help="the templates folder (default: templates)")
        if out:
            p.add_argument("--out", default="site", metavar="DIR", help="the output folder (default: site)")

    def jobs(p: argparse.ArgumentParser) -> None:
        p.add_argument("--jobs", type=int, default=cores(), metavar="N", help=f"processes to build with (default: {cores()}, the cores available)")

    p = sub.add_parser("build", help="check, then render the site into --out")
    folders(p)
    p.add_argument("--drafts", action="store_true", help="render draft stories too")
    p.add_argument("--strict", action="store_true", help="treat warnings as errors")
    p.add_argument("--base-url", metavar="URL", help="publish under this URL instead of site.yaml's base_url")
    p.add_argument("--cache", default=".cache", metavar="DIR", help="where to keep what the next build can reuse (default: .cache)")
    p.add_argument("--no-cache", action="store_true", help="build everything, and neither read nor write the cache")
    jobs(p)
    p = sub.add_parser("check", help="everything a build does, but write nothing")
    folders(p, out=False)
    p.add_argument("--strict", action="store_true", help="treat warnings as errors")
    p.add_argument("--format", choices=("text", "json"), default="text", help="how to print diagnostics")
    jobs(p)
    p = sub.add_parser("serve", help="build, serve on 127.0.0.1:8000 and rebuild on every change")
    folders(p)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1, this machine only)")
    p.add_argument("--port", type=int, default=8000, help="port to listen on; 0 picks a free one (default: 8000)")
    p.add_argument("--drafts", action="store_true", help="render draft stories too, labelled as drafts")
    p = sub.add_parser("new", help="start a new draft story that passes the check")
    p.add_argument("slug", help="the story's folder name and URL, such as launch-pad-repairs")
    p.add_argument("--content", default="content", metavar="DIR", help="the content folder (default: content)")
    return parser


def _inside(a: str, b: str) -> bool:
    a, b = os.path.realpath(a), os.path.realpath(b)
    return a == b or a.startswith(b.rstrip(os.sep) + os.sep)


def check_folders(args: argparse.Namespace) -> None:
    """Refuse missing input folders and an output folder that overlaps them."""
    for name in ("content", "templates"):
        folder = getattr(args, name, None)
        if folder is not None and not os.path.isdir(folder):
            raise UsageError(f"--{name} {folder}: no such folder")
    out = getattr(args, "out", None)
    if out is not None:
        for name in ("content", "templates"):
            folder = getattr(args, name)
            if _inside(out, folder) or _inside(folder, out):
                raise UsageError(f"--out {out} overlaps --{name} {folder}; choose an output folder outside both")
    base_url = getattr(args, "base_url", None)
    if base_url is not None:
        from .schema import is_base_url  # only here: a build without --base-url never needs the schema

        if not is_base_url(base_url):
            raise UsageError(f"--base-url {base_url}: not an absolute http(s) address without query, fragment or quotes")


def _unchanged(args: argparse.Namespace, cache_file: str, inputs: str | None, started: float) -> bool:
    """When nothing has changed since the last successful build, say so as it did, and True."""
    saved = fingerprint.load(fingerprint.fingerprint_path(cache_file))
    if saved is None or inputs is None or saved.inputs != inputs or (args.strict and saved.warnings):
        return False
    if fingerprint.outputs_digest(args.out, cache_file) != saved.outputs:
        return False
    sys.stderr.write(saved.diagnostics)
    print(f"wrote 0 of {saved.files} files into {args.out}/ in {time.perf_counter() - started:.2f} s ({saved.warnings} warning(s))")
    return True


def cmd_build(args: argparse.Namespace) -> int:
    """Check, render and, when all is well, put the site in place; only what changed since the last build is redone."""
    started = time.perf_counter()
    cache_file, inputs, settled = None, None, False
    seen: dict[str, os.stat_result] = {}  # every entry under the content folder, as the fingerprint found it
    if not args.no_cache:
        # The folders as typed too: diagnostics kept in the state show them that way.
        folders = (args.content, args.templates, args.out)
        identity = (*(os.path.abspath(p) for p in folders), *folders)
        cache_file = fingerprint.state_path(args.cache, *identity, f"drafts={args.drafts} base_url={args.base_url!r}")
        inputs, settled = fingerprint.inputs_digest(args.content, args.templates, seen)  # before anything is read
        if _unchanged(args, cache_file, inputs, started):
            return 0
    from .cache import BuildState, PageStore, load_state
    from .render import RenderOptions
    from .writer import output_lock

    progress = Progress()
    options = RenderOptions(drafts=args.drafts, base_url=args.base_url)
    state, why = BuildState(), None
    if cache_file is not None:
        state, why = load_state(cache_file)
        # The loaded state lives as long as this process: later collections need not walk it
        # again (they cost a one-story rebuild at 1000 stories 50-70 ms). Still freed when unreferenced.
        gc.freeze()
        state.compiled_dir = os.path.join(args.cache, "templates")
        state.pages = PageStore(cache_file.removesuffix(".pickle") + ".pages.sqlite")
        if why:
            print(f"note: the build cache {cache_file} is not used ({why}); building everything", file=sys.stderr)

    def waiting() -> None:
        print(f"waiting for another build writing {args.out}/ to finish", file=sys.stderr, flush=True)

    try:
        with output_lock(args.out, waiting):
            if cache_file is not None:
                fingerprint.forget(fingerprint.fingerprint_path(cache_file))  # this build may change the site
            return _build_into(args, options, state, cache_file, why, progress, started, inputs if settled else None, seen)
    except OSError as exc:  # the folder that holds the output folder cannot be used at all
        print(f"{args.out}: error: cannot write the site: {exc.strerror or exc}; the previous site is unchanged", file=sys.stderr)
        return 1
    finally:
        if state.pages is not None:
            state.pages.close()


def _build_into(args: argparse.Namespace, options: RenderOptions, state: BuildState, cache_file: str | None, why: str | None,
                progress: Progress, started: float, inputs: str | None, seen: dict[str, os.stat_result]) -> int:
    """The build proper, and the writing of its outputs, while this process holds the output folder.

    ``inputs``, the fingerprint of the inputs as they were before the build read them, is saved
    with the outputs' after a successful build, for the next rebuild's shortcut. ``seen``: the
    stat of each entry under the content folder that fingerprint took, which the build reuses.
    """
    from .builder import build
    from .writer import OutputError, StagedSite

    if state.outputs and not state.untouched(args.out):
        # The output folder was written since this state was saved: by a build killed before it
        # saved its own, or by the preview. Files the state does not know of may be there, which
        # only a site built whole is sure to drop.
        print(f"note: {args.out}/ was written since the build cache was saved; building it whole", file=sys.stderr)
        state.outputs = {}
    staged = None
    try:
        # Files are written beside the output folder as they are made, by the processes that made
        # them, so a site is never held in memory whole nor copied between processes. When nothing
        # of an earlier build can be kept, the staging folder is swapped in as the new site;
        # otherwise each file it holds replaces its own.
        staged = StagedSite(args.out, whole=not state.outputs, meanwhile=True)
        result = build(args.content, args.templates, options, state, args.out, progress, max(1, args.jobs), sink=staged.add, seen=seen)
    except OutputError as exc:
        if staged is not None:
            staged.abort()
        raise UsageError(str(exc)) from exc
    except OSError as exc:
        progress.finish()
        if staged is not None:
            staged.abort()
        print(f"{args.out}: error: cannot write the site: {exc.strerror or exc}; the previous site is unchanged", file=sys.stderr)
        return 1
    except BaseException:
        if staged is not None:
            staged.abort()
        raise
    try:
        return _write_out(args, state, cache_file, why, progress, started, inputs, staged, result)
    except BaseException:
        staged.abort()  # nothing to undo once the files are in place
        raise


def _write_out(args: argparse.Namespace, state: BuildState, cache_file: str | None, why: str | None, progress: Progress,
               started: float, inputs: str | None, staged: StagedSite, result: BuildResult) -> int:
    """Report a finished build and, when it succeeded, put its staged files in place and save what it learnt."""
    from .diagnostics import format_text
    from .writer import MARKER, OutputError

    progress.finish()
    printed = format_text(result.report.sorted())
    sys.stderr.write(printed)
    errors, warnings = result.report.counts()
    if not result.ok(args.strict):
        staged.abort()
        kind = "errors" if errors else "warnings (--strict)"
        print(f"build failed: {errors} error(s), {warnings} warning(s); {kind} must be fixed. {args.out}/ is unchanged.", file=sys.stderr)
        _save(cache_file, state)  # what was learnt of the stories still saves time next run
        return 1
    remove = set(state.outputs) - set(result.keys)
    written = {*result.files, *result.sent}
    whole = not state.outputs or not result.kept  # nothing of the output folder is kept
    try:
        staged.add(result.files)  # the outputs made here; the workers' are staged already
        if whole:
            staged.commit(written)
        elif written or remove:
            # Most of the site is already in place: replace just the changed files, each atomically.
            staged.put_in_place(written, remove)
        else:
            staged.abort()  # nothing to write
    except OutputError as exc:
        raise UsageError(str(exc)) from exc
    except OSError as exc:
        print(f"{args.out}: error: cannot write the site: {exc.strerror or exc}; the previous site is unchanged", file=sys.stderr)
        return 1
    if result.learnt or remove or why is not None:
        state.record_outputs(args.out, result.keys, written if result.kept else None, result.contexts)
        if cache_file is not None:
            # For the fingerprint: a folder replaced whole is looked at whole, otherwise only what was written.
            replaced = whole or state.site_entries is None
            touched = (*written, *remove, MARKER) if written or remove else ()
            entries = fingerprint.output_entries(args.out) if replaced else fingerprint.update_entries(state.site_entries or {}, args.out, touched)
            state.site_entries = entries
        _save(cache_file, state)
    elif cache_file is not None and (entries := fingerprint.output_entries(args.out)) != state.site_entries:
        # Nothing learnt, yet the shortcut was missed: the folder may hold what no build wrote (a
        # CNAME put there by hand). Looked at whole this once, it is known to the next shortcut.
        state.site_entries = entries
        _save(cache_file, state)
    if cache_file is not None and inputs is not None and (outputs := fingerprint.outputs_digest(args.out, cache_file, state.site_entries)):
        fingerprint.save(fingerprint.fingerprint_path(cache_file), fingerprint.Fingerprint(inputs, outputs, len(result.keys), warnings, printed))
    staged.finish()  # the build is done when what it replaced is gone
    took = time.perf_counter() - started
    wrote = f"wrote {len(written)} of {len(result.keys)} files" if result.kept else f"built {len(written)} files"
    try:
        print(f"{wrote} into {args.out}/ in {took:.2f} s ({warnings} warning(s))", flush=True)
    except BrokenPipeError:
        # Nobody reads the summary (`build.py build | head -0`), but the site is in place and its
        # state saved: a success. Later writes to the closed pipe (Python's own at exit) go nowhere.
        _stop_writing(sys.stdout)
    return 0


def _stop_writing(stream: TextIO) -> None:
    """Point a stream whose reader went away at the null device."""
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), stream.fileno())
    except (OSError, ValueError):  # not a file of the system's (a test's buffer)
        pass


def _save(cache_file: str | None, state: BuildState) -> None:
    from .cache import save_state

    if cache_file is None:
        return
    try:
        save_state(cache_file, state)
    except OSError as exc:  # the site is right; only the next build will be slower
        print(f"note: cannot save the build cache {cache_file}: {exc.strerror or exc}", file=sys.stderr)


def cmd_check(args: argparse.Namespace) -> int:
    """Everything a build does, in memory."""
    from .builder import build
    from .diagnostics import format_json, format_text
    from .render import RenderOptions

    progress = Progress()
    result = build(args.content, args.templates, RenderOptions(drafts=True), progress=progress, jobs=max(1, args.jobs))
    progress.finish()
    diagnostics = result.report.sorted()
    if args.format == "json":
        sys.stdout.write(format_json(diagnostics))
    else:
        sys.stderr.write(format_text(diagnostics))
        errors, warnings = result.report.counts()
        print(f"{'check failed' if not result.ok(args.strict) else 'check passed'}: {errors} error(s), {warnings} warning(s)", file=sys.stderr)
    return 0 if result.ok(args.strict) else 1


def cmd_serve(args: argparse.Namespace) -> int:
    """The author's preview server (imported only here: building never pays for tornado)."""
    from .serve import serve

    return serve(args)


def cmd_new(args: argparse.Namespace) -> int:
    """Make a new draft story."""
    from .scaffold import ScaffoldError, new_story

    try:
        created = new_story(args.content, args.slug)
    except ScaffoldError as exc:
        raise UsageError(str(exc)) from exc
    for path in created:
        print(f"created {path}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help")):
        argv = ["build", *argv]
    args = _parser().parse_args(argv)
    commands = {"build": cmd_build, "check": cmd_check, "serve": cmd_serve, "new": cmd_new}
    try:
        if args.command != "new":
            check_folders(args)
        return commands[args.command](args)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
