"""The pipeline: content and templates in, ``{output path: bytes}`` and diagnostics out. Writes nothing."""

from __future__ import annotations

from dataclasses import dataclass

from .cache import BuildCache
from .checks import check_content
from .diagnostics import Report
from .loader import load_content
from .progress import ProgressFn, quiet
from .render import RenderOptions, render_site


@dataclass
class BuildResult:
    """The outputs of a build (empty when it failed) and everything it reported."""

    files: dict[str, bytes]
    report: Report

    def ok(self, strict: bool = False) -> bool:
        """True when the build may be written."""
        return not self.report.failed(strict)


def build(
    content_dir: str,
    templates_dir: str,
    options: RenderOptions | None = None,
    cache: BuildCache | None = None,
    progress: ProgressFn = quiet,
) -> BuildResult:
    """Check the content, then render it in memory; nothing is rendered while the content has errors.

    A cache (kept by the preview between saves) reuses what unchanged bytes gave last time; the
    result is the same as without it.
    """
    report = Report()
    try:
        content = load_content(content_dir, report, cache, progress)
        check_content(content, report, cache)
        if report.failed() or content.site is None:
            return BuildResult({}, report)
        files = render_site(content, templates_dir, options or RenderOptions(), report, cache, progress)
        if report.failed():
            return BuildResult({}, report)
        return BuildResult(files, report)
    finally:
        if cache is not None:
            cache.finish()
