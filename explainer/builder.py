"""The pipeline: content and templates in, ``{output path: bytes}`` and diagnostics out. Writes nothing."""

from __future__ import annotations

from dataclasses import dataclass

from .checks import check_content
from .diagnostics import Report
from .loader import load_content
from .render import RenderOptions, render_site


@dataclass
class BuildResult:
    """The outputs of a build (empty when it failed) and everything it reported."""

    files: dict[str, bytes]
    report: Report

    def ok(self, strict: bool = False) -> bool:
        """True when the build may be written."""
        return not self.report.failed(strict)


def build(content_dir: str, templates_dir: str, options: RenderOptions | None = None) -> BuildResult:
    """Check the content, then render it in memory; nothing is rendered while the content has errors."""
    report = Report()
    content = load_content(content_dir, report)
    check_content(content, report)
    if report.failed() or content.site is None:
        return BuildResult({}, report)
    files = render_site(content, templates_dir, options or RenderOptions(), report)
    if report.failed():
        return BuildResult({}, report)
    return BuildResult(files, report)
