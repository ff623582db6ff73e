"""The author's preview: build, serve the output folder on loopback, rebuild and reload on every save.

livereload provides the browser side (its script, injected into served pages only, and its
websocket protocol); around it we fix what it does not do for us:
- saves are noticed by file-system events (watchdog), not an 800 ms poll;
- builds run on their own thread, never on the server's, and the last save always wins: saves
  during a build start another build, and a reload is sent only after the build that includes
  them is in place (calling ``reload_waiters`` directly, so no reload is dropped), and a tab
  that was still loading when a reload went out is reloaded when it connects;
- no exception, not even ``SystemExit``, escapes a rebuild: a failed build keeps the last good
  site on disk and every page shows the errors instead until a save fixes them;
- only files inside the output folder are served, never a dotfile.
livereload, tornado and watchdog are imported here only, so building never pays for them.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import html
import json
import logging
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from . import narrative
from .builder import build
from .cache import BuildState, MemoryPageStore
from .diagnostics import Diagnostic, Pos, format_text, visible
from .files import is_ignored
from .parallel import cores
from .render import RenderOptions
from .writer import output_lock, remove_tree, update_site, write_site

_HASHED = re.compile(r"^static/.+\.[0-9a-f]{10}\.[a-z0-9]+$")

# Editors save in bursts (write a temp file, rename, touch); wait at most this long for the burst
# to end. A save that only writes files in place ends when the last of them is closed.
SETTLE_SECONDS = 0.01
# After a template edit, once no save has come for this long, memory the frozen cache can no
# longer reach is collected (see Rebuilder.tidy).
IDLE_SECONDS = 2.0


class Preview:
    """The state the server shows: the diagnostics of the last build, empty when it succeeded."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.errors: list[Diagnostic] = []
        # Which reload the tabs were last sent, unique to this server: every page is served with
        # it, and a tab that connects with an older one missed a reload while it was loading (the
        # server's loop thread alone reads and changes these, so they need no lock).
        self.token = os.urandom(4).hex()
        self.reloads = 0

    @property
    def version(self) -> str:
        """What a page served now carries: this server and how many reloads it has sent."""
        return f"{self.token}-{self.reloads}"

    def reloaded(self) -> None:
        """Count a reload sent to the tabs (on the server's loop, with the message itself)."""
        self.reloads += 1

    def set(self, errors: list[Diagnostic]) -> None:
        """Record the outcome of a build."""
        with self.lock:
            self.errors = errors

    def current_errors(self) -> list[Diagnostic]:
        """The errors to show in place of pages (empty: serve the site)."""
        with self.lock:
            return list(self.errors)


def error_page(errors: list[Diagnostic]) -> bytes:
    """A page listing every diagnostic, escaped; built without the site's templates, which may be the broken part."""
    rows = "".join(
        f"<li><code>{html.escape(visible(d.where()))}</code> <strong>{html.escape(d.severity)}</strong>: "
        f"{html.escape(visible(d.message))}</li>\n"
        for d in errors
    )
    page = (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        "<title>Build failed · preview</title>\n"
        "<style>body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;line-height:1.5}"
        "h1{color:#a31515}li{margin:.4rem 0}code{background:#f3f3f3;padding:0 .2rem}</style>\n"
        "</head>\n<body>\n<main>\n<h1>The build failed</h1>\n"
        f"<p>{len(errors)} problem(s). The last good version of the site is kept; this page reloads when a save fixes them.</p>\n"
        f'<ol class="diagnostics">\n{rows}</ol>\n</main>\n</body>\n</html>\n'
    )
    return page.encode("utf-8")


def _fresh_state() -> BuildState:
    """The preview's state before its first build: kept in memory, with a page store in memory too."""
    return BuildState(in_memory=True, pages=MemoryPageStore())


class Rebuilder:
    """Runs builds on a thread of its own; ``request()`` from any thread asks for one."""

    def __init__(self, args: argparse.Namespace, preview: Preview, on_built: Callable[[], None]) -> None:
        self.args = args
        self.preview = preview
        self.on_built = on_built
        self.pending = threading.Event()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="rebuilder", daemon=True)
        # Kept between saves: what each story gave last time and what the output folder holds, so
        # a save costs in proportion to what it changed (the same state `build` keeps in .cache/).
        self.state = _fresh_state()
        # What the watcher reported since the last build began: the story folders it touched, or
        # None when something else changed that may concern every story (or nothing is known).
        self.lock = threading.Lock()
        self.touched: set[str] | None = None
        # Since the last build began: each file written, and whether it has been closed since; and
        # whether anything else changed (a rename, a file created or removed), which is waited out.
        self.writes: dict[str, bool] = {}
        self.other_changes = False
        self.closed = threading.Event()
        self.stories_dir = os.path.join(os.path.abspath(args.content), "stories") + os.sep
        self.untidy = False  # an environment was replaced since the last tidy()
        # The files the last build replaced or removed, moved aside: removed once the reload is out.
        self.aside: str | None = None

    def start(self) -> None:
        """Start the build thread."""
        self.thread.start()

    def stop(self) -> None:
        """Ask the build thread to end."""
        self.stopping.set()
        self.pending.set()

    def request(self, path: str | None = None, written: bool = False) -> None:
        """Ask for a build that includes every save made so far (``path``: what changed, when known; ``written``: its content)."""
        with self.lock:
            if written and path is not None:
                self.writes[path] = False
            else:
                self.other_changes = True
            if path is None:
                self.touched = None
            elif self.touched is not None:
                absolute = os.path.abspath(path)
                if absolute.startswith(self.stories_dir):
                    self.touched.add(absolute[len(self.stories_dir):].split(os.sep, 1)[0])
                elif not absolute.startswith(os.path.abspath(self.args.templates) + os.sep):
                    self.touched = None  # site.yaml, publishers.yaml, the stories folder itself: look at everything
        self.pending.set()

    def finished(self, path: str) -> None:
        """A file was closed after being written: whoever wrote it is done with it."""
        with self.lock:
            if path in self.writes:
                self.writes[path] = True
        self.closed.set()

    def saves_complete(self) -> bool:
        """True when every change since the last build began is a file written and closed since."""
        with self.lock:
            return bool(self.writes) and all(self.writes.values()) and not self.other_changes

    def settle(self) -> None:
        """Wait until the save is complete: every file written closed, or SETTLE_SECONDS for anything else."""
        deadline = time.monotonic() + SETTLE_SECONDS
        while True:
            self.closed.clear()  # before looking: a close from now on wakes the wait below
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self.saves_complete():
                return
            self.closed.wait(remaining)

    def _take_touched(self) -> set[str] | None:
        """What changed since the last call; from now on, changes are collected afresh."""
        with self.lock:
            touched, self.touched = self.touched, set()
            self.writes, self.other_changes = {}, False
        return touched

    def tidy(self) -> None:
        """Collect the garbage the frozen cache holds: a replaced Jinja environment is a cycle only a full collection frees."""
        gc.unfreeze()
        gc.collect()
        gc.freeze()
        self.untidy = False

    def _loop(self) -> None:
        while not self.stopping.is_set():
            # While idle, and only then: a full collection takes long enough to delay a save.
            if not self.pending.wait(IDLE_SECONDS if self.untidy else None):
                self.tidy()
                continue
            if self.stopping.is_set():
                return
            self.settle()
            self.pending.clear()  # saves from now on set it again and cause one more build
            self.build_once(touched=self._take_touched())
            if not self.pending.is_set():  # a newer save is coming: reload once, after its build
                self.on_built()
            self.discard_aside()

    def warm(self) -> None:
        """Do now what the first save would otherwise wait for: the first build read its stories in worker processes."""
        import jinja2

        narrative.parser()  # imports markdown-it and builds the parser
        if self.state.environment is not None:
            env = self.state.environment[1]
            for name in env.list_templates(filter_func=lambda name: name.endswith((".html", ".xml"))):
                with contextlib.suppress(jinja2.TemplateError):  # a broken template is the builds' to report
                    env.get_template(name)
        gc.freeze()

    def discard_aside(self) -> None:
        """Remove the files the last build replaced (after its reload: freeing them takes the disk a while)."""
        if self.aside is not None:
            remove_tree(self.aside)
            self.aside = None

    def build_once(self, jobs: int = 1, touched: set[str] | None = None) -> bool:
        """Build and put the site in place; never raises. True when the build succeeded.

        ``jobs`` > 1 only for the first build, before the server's threads start: forking a process
        while other threads may hold locks is not safe.
        """
        started = time.perf_counter()
        out = self.args.out
        try:
            options = RenderOptions(drafts=self.args.drafts)
            environment = self.state.environment[1] if self.state.environment else None
            result = build(self.args.content, self.args.templates, options, self.state, out, jobs=jobs, touched=touched)
            diagnostics = result.report.sorted()
            if result.ok():
                with output_lock(out):  # a `build` of the same folder meanwhile waits, and vice versa
                    if result.kept:  # (update_site removes a folder still aside, as any staging leftover)
                        self.aside = update_site(out, result.files, set(self.state.outputs) - set(result.keys), keep_replaced=True)
                    else:
                        write_site(out, result.files)
                    self.state.record_outputs(out, result.keys, set(result.files) if result.kept else None, result.contexts)
                self.preview.set([])
                # The cache is long-lived: move it out of the garbage collector's way, or a full
                # collection (~0.5 s at 1000 stories) lands in the middle of some later save.
                # Objects frozen here are still freed when unreferenced; only cycles among them wait
                # for tidy(), which runs when the preview is idle after the environment was replaced.
                gc.freeze()
                if environment is not None and self.state.environment[1] is not environment:
                    self.untidy = True
                warnings = len(diagnostics)
                sys.stderr.write(format_text(diagnostics))
                print(f"rebuilt in {time.perf_counter() - started:.2f} s" + (f" ({warnings} warning(s))" if warnings else ""), flush=True)
                return True
            self.preview.set(diagnostics)
            sys.stderr.write(format_text(diagnostics))
            print("build failed; the browser shows the errors, the last good site is kept", file=sys.stderr, flush=True)
        except BaseException as exc:  # a broken save (even SystemExit) must never stop the preview
            if isinstance(exc, KeyboardInterrupt):
                raise
            self.state = _fresh_state()  # start afresh: whatever failed may have left it half-updated
            with self.lock:
                self.touched = None
            message = f"the build crashed: {type(exc).__name__}: {exc}"
            self.preview.set([Diagnostic(Pos(self.args.content), "error", message)])
            print(message, file=sys.stderr, flush=True)
        return False


def _is_page(path: str) -> bool:
    name = path.rsplit("/", 1)[-1]
    return name == "" or name.endswith(".html") or "." not in name


# The name of the livereload plugin that tells the server which reload a page was served after.
VERSION_PLUGIN = "preview-version"


def reload_script(version: str) -> bytes:
    """What is injected into served pages: livereload's script, loaded without blocking, and our plugin.

    livereload.js adds every ``window.LiveReloadPlugin*`` it finds, and sends what each plugin's
    ``analyze()`` returns in the "info" message that registers the tab: the page's version.
    """
    return (
        '<script>(function(){function P(){}P.identifier="' + VERSION_PLUGIN + '";P.version="1";'
        'P.prototype.analyze=function(){return {served:"' + version + '"};};window.LiveReloadPluginPreviewVersion=P;'
        'var s=document.createElement("script");'
        's.src="/livereload.js?port="+(window.location.port||(window.location.protocol=="https:"?443:80));'
        "document.head.appendChild(s);})();</script>"
    ).encode()


def make_app(root: str, preview: Preview) -> Any:
    """The tornado application: livereload's websocket and script, and our guarded static files."""
    from livereload.handlers import LiveReloadHandler, LiveReloadJSHandler, StaticFileHandler

    class CachedReloadScript(LiveReloadJSHandler):  # type: ignore[misc]
        """livereload's browser script, which does not change while the server runs: let tabs keep it."""

        def set_default_headers(self) -> None:
            self.set_header("Cache-Control", "max-age=86400")
    from livereload.server import LiveScriptInjector
    from tornado import web

    class PreviewFileHandler(StaticFileHandler):  # type: ignore[misc]
        """Serves the output folder; shows the build errors in place of pages while the build is broken."""

        async def get(self, path: str, include_body: bool = True) -> None:
            errors = preview.current_errors()
            if errors and _is_page(path):
                self.set_status(500)
                self.set_header("Content-Type", "text/html; charset=utf-8")
                self.set_header("Cache-Control", "no-store")
                self.finish(error_page(errors))
                return
            # Read the file through one open descriptor and send exactly those bytes: tornado's own
            # handler takes the size and the content in separate steps, and a rebuild renaming a
            # new file into place between them would send a length that does not match the body.
            self.path = self.parse_url_path(path)
            absolute = self.validate_absolute_path(self.root, self.get_absolute_path(self.root, self.path))
            if absolute is None:  # redirected (a folder without its trailing slash)
                return
            self.absolute_path = absolute
            try:
                with open(absolute, "rb") as f:
                    data = f.read()
            except (FileNotFoundError, IsADirectoryError):
                raise web.HTTPError(404) from None
            self.set_header("Content-Type", self.get_content_type())
            self.set_extra_headers(path)
            self.finish(data if include_body else b"")

        def validate_absolute_path(self, root: str, absolute_path: str) -> str | None:
            # Dotfiles (the output marker, anything hidden) and NUL bytes are never served; tornado
            # itself refuses paths and symlinks that lead out of the root.
            relative = os.path.relpath(absolute_path, root)
            if "\x00" in absolute_path or any(part.startswith(".") for part in relative.split(os.sep) if part not in (".",)):
                raise web.HTTPError(404)
            result: str | None = super().validate_absolute_path(root, absolute_path)
            return result

        def set_extra_headers(self, path: str) -> None:
            # Hashed static files (style.<hash>.css) never change under their name, so the browser
            # may keep them across reloads; everything else must be fetched fresh after each build.
            if _HASHED.search(path):
                self.set_header("Cache-Control", "max-age=31536000, immutable")
            else:
                self.set_header("Cache-Control", "no-store")

        def write_error(self, status_code: int, **kwargs: Any) -> None:
            not_found = os.path.join(root, "404.html")
            if status_code == 404 and os.path.isfile(not_found):
                self.set_header("Content-Type", "text/html; charset=utf-8")
                with open(not_found, "rb") as f:
                    self.finish(f.read())
                return
            super().write_error(status_code, **kwargs)

    class Injector(LiveScriptInjector):  # type: ignore[misc]
        @property
        def script(self) -> bytes:
            return reload_script(preview.version)

    class ReloadSocket(LiveReloadHandler):  # type: ignore[misc]
        """livereload's websocket; a tab that connects having missed a reload is reloaded at once."""

        def on_message(self, message: str) -> None:
            super().on_message(message)  # registers the tab for reloads on its "info" message
            try:
                data = json.loads(message)
                served = data["plugins"][VERSION_PLUGIN]["served"] if data.get("command") == "info" else None
            except (ValueError, TypeError, KeyError):
                served = None  # a page without our plugin (not served by this preview): left as livereload leaves it
            if served is not None and served != preview.version and self in LiveReloadHandler.waiters:
                # A build was put in place and announced after this page was served but before
                # the tab registered: without this, it would go on showing the older build.
                self.send_message({"command": "reload", "path": "*", "liveCSS": LiveReloadHandler.live_css, "liveImg": True})

    return web.Application(
        [
            (r"/livereload", ReloadSocket),
            (r"/livereload.js", CachedReloadScript),
            (r"/(.*)", PreviewFileHandler, {"path": os.path.abspath(root), "default_filename": "index.html"}),
        ],
        transforms=[Injector],
        debug=False,  # debug would turn on tornado's autoreload, which restarts the process on code changes
    )


class _NoPolling:
    """Stands in for livereload's polling watcher: saves reach us through watchdog instead."""

    def __init__(self) -> None:
        self._tasks = {"inputs": None}  # livereload watches the working directory when this is empty
        self.filepath: str | None = None

    def start(self, callback: Callable[[], None]) -> bool:
        """Tell livereload not to poll."""
        return True

    def examine(self) -> tuple[None, None]:
        """Nothing to examine: changes arrive as events."""
        return None, None


def watch_inputs(
    folders: list[str], out: str, on_change: Callable[[str, bool], None], on_closed: Callable[[str], None] | None = None
) -> Any:
    """Call ``on_change(path, written)`` for every change under the folders, except editor droppings and the output.

    ``written`` is True when a file's content was written in place; ``on_closed(path)`` is told
    when a file written is closed, which is when a save that writes in place is complete.
    """
    from watchdog.events import (
        DirCreatedEvent,
        DirDeletedEvent,
        DirMovedEvent,
        FileClosedEvent,
        FileCreatedEvent,
        FileDeletedEvent,
        FileModifiedEvent,
        FileMovedEvent,
        FileSystemEvent,
        FileSystemEventHandler,
    )
    from watchdog.observers import Observer

    out_abs = os.path.abspath(out) + os.sep

    class Handler(FileSystemEventHandler):
        def on_any_event(self, event: FileSystemEvent) -> None:
            if event.event_type in ("opened", "closed_no_write"):
                return
            # A folder's "modified" accompanies every change inside it, droppings included; the
            # change itself arrives as its own event.
            if event.is_directory and event.event_type == "modified":
                return
            paths = [p for p in (event.src_path, getattr(event, "dest_path", "")) if p]
            for raw in paths:
                path = os.fsdecode(raw)
                if os.path.abspath(path).startswith(out_abs):
                    continue
                if is_ignored(os.path.basename(path)):
                    continue
                # A write raises "modified", and its "closed" says the writer is done: it tells the
                # preview it may start at once, and is not a change of its own.
                if event.event_type == "closed":
                    if on_closed is not None:
                        on_closed(path)
                else:
                    on_change(path, event.event_type == "modified" and not event.is_directory)

    # Subscribe to changes only: the builds themselves open every story folder, and open/close
    # events for those would keep the watcher thread (and the GIL) busy during every build.
    # (A closed event is subscribed to for files closed after writing only, not after reading.)
    changes = [FileCreatedEvent, FileDeletedEvent, FileModifiedEvent, FileMovedEvent, FileClosedEvent, DirCreatedEvent, DirDeletedEvent,
               DirMovedEvent]
    observer = Observer()
    for folder in folders:
        observer.schedule(Handler(), folder, recursive=True, event_filter=changes)
    observer.start()
    return observer


def serve(args: argparse.Namespace) -> int:
    """Run the preview until Ctrl-C; exit status 2 when the address cannot be used."""
    from livereload.handlers import LiveReloadHandler
    from tornado import netutil
    from tornado.httpserver import HTTPServer
    from tornado.ioloop import IOLoop

    logging.getLogger("tornado.access").setLevel(logging.WARNING)
    try:
        sockets = netutil.bind_sockets(args.port, address=args.host)
    except OSError as exc:
        print(f"error: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    port = sockets[0].getsockname()[1]
    preview = Preview()
    loop = IOLoop.current()

    def reload_tabs() -> None:
        preview.reloaded()  # with the message: a tab that registers after it compares versions
        LiveReloadHandler.reload_waiters()

    def reload_browsers() -> None:
        loop.add_callback(reload_tabs)

    rebuilder = Rebuilder(args, preview, reload_browsers)
    rebuilder.build_once(jobs=cores())
    rebuilder.warm()
    os.makedirs(args.out, exist_ok=True)
    server = HTTPServer(make_app(args.out, preview))
    server.add_sockets(sockets)
    LiveReloadHandler.watcher = _NoPolling()
    LiveReloadHandler.live_css = False  # a CSS change also re-renders pages (hashed names): reload whole pages
    LiveReloadHandler.start_tasks()
    rebuilder.start()
    observer = watch_inputs([args.content, args.templates], args.out, rebuilder.request, rebuilder.finished)
    # A save made during the first build, before the watcher was running, reported nothing: one
    # more look (cheap, everything else is kept) makes sure the preview starts with it.
    rebuilder.request()
    host = f"[{args.host}]" if ":" in args.host else args.host
    print(f"Serving {args.out}/ at http://{host}:{port}/ (Ctrl-C stops)", flush=True)

    def stop(signum: int, frame: Any) -> None:
        loop.add_callback_from_signal(loop.stop)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        loop.start()
    finally:
        observer.stop()
        rebuilder.stop()
        server.stop()
        print("stopped", flush=True)
    return 0
