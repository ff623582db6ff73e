#!/usr/bin/env python3
"""Build, check and preview the explainer site: ``python build.py --help``."""

import os
import sys

from explainer.cli import main


def _leave(status: int) -> None:
    """Exit with ``status`` once what was printed is out, without taking the interpreter apart."""
    try:
        for stream in (sys.stdout, sys.stderr):
            if stream is not None:  # None when the command was started with that descriptor closed
                stream.flush()
    except (OSError, ValueError):  # a closed pipe, say: Python's own exit reports it as it always does
        sys.exit(status)
    # Freeing every module and the loaded build state object by object costs a one-story rebuild
    # of a thousand stories about 15 ms; the system frees the whole process at once. Every file
    # and child process is closed or waited for by then (see cli).
    os._exit(status)


if __name__ == "__main__":
    _leave(main())
