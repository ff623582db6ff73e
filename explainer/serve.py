"""The author's preview: build, serve the output folder on loopback, rebuild and reload on every save.

livereload (and tornado) are imported here only, so builds and tests of the build never load them.
A rebuild never raises into the server: a failed build keeps the last good site in place.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Any

from .builder import build
from .diagnostics import format_text
from .files import is_ignored
from .render import RenderOptions
from .writer import write_site


class Rebuilder:
    """Builds the site into the output folder; callable as a livereload watch callback."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.last_ok = False

    def __call__(self) -> None:
        """Rebuild; report problems on the terminal and keep the last good site when the build fails."""
        try:
            result = build(self.args.content, self.args.templates, RenderOptions(drafts=self.args.drafts))
            sys.stderr.write(format_text(result.report.sorted()))
            if result.ok():
                write_site(self.args.out, result.files)
                print(f"rebuilt {len(result.files)} files", flush=True)
            else:
                print("build failed; still serving the last good site", file=sys.stderr, flush=True)
            self.last_ok = result.ok()
        except BaseException as exc:  # a broken save (even SystemExit) must never stop the preview
            if isinstance(exc, KeyboardInterrupt):
                raise
            print(f"rebuild failed: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
            self.last_ok = False


def _ignore(path: str) -> bool:
    return is_ignored(os.path.basename(path))


def serve(args: argparse.Namespace) -> int:
    """Run the preview server until Ctrl-C; exit status 2 when the port cannot be used."""
    from livereload import Server

    rebuild = Rebuilder(args)
    rebuild()
    os.makedirs(args.out, exist_ok=True)
    server: Any = Server()
    for folder in (args.content, args.templates):
        server.watch(folder, rebuild, ignore=_ignore)
    logging.getLogger("tornado.access").setLevel(logging.WARNING)
    print(f"Serving {args.out}/ on http://{args.host}:{args.port}/ (Ctrl-C stops)", flush=True)
    try:
        server.serve(port=args.port, host=args.host, root=args.out, debug=False, restart_delay=0)
    except OSError as exc:
        print(f"error: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    return 0
