"""Every page of the real site and of the fixture site passes the Nu HTML checker with zero findings."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from explainer.builder import build
from explainer.render import RenderOptions
from explainer.writer import write_site

from .conftest import FIXTURES, ROOT, TEMPLATES

VNU = Path(os.environ.get("VNU_JAR", ROOT / ".tools/node_modules/vnu-jar/build/dist/vnu.jar"))


def run_vnu(files: list[Path]) -> subprocess.CompletedProcess[str]:
    """Run the checker; a missing checker is a failure, never a skip (scripts/test.sh installs it)."""
    java = shutil.which("java")
    assert java, "java is needed for the Nu HTML checker"
    assert VNU.is_file(), f"the Nu HTML checker is not installed at {VNU}; run scripts/test.sh"
    return subprocess.run(
        [java, "-jar", str(VNU), "--also-check-css", "--format", "gnu", "--Werror", *map(str, files)],
        capture_output=True, text=True, timeout=300,
    )


@pytest.mark.parametrize("content", [ROOT / "content", FIXTURES / "golden/content"], ids=["real-site", "golden-site"])
def test_pages_pass_the_nu_html_checker(content: Path, tmp_path: Path) -> None:
    result = build(str(content), str(TEMPLATES), RenderOptions(drafts=True))
    assert result.ok(), result.report.sorted()
    write_site(str(tmp_path / "site"), result.files)
    pages = sorted(p for p in (tmp_path / "site").rglob("*") if p.suffix in (".html", ".css"))
    assert len(pages) >= 8
    checked = run_vnu(pages)
    assert checked.stdout + checked.stderr == ""
    assert checked.returncode == 0


def test_the_checker_does_report_broken_markup(tmp_path: Path) -> None:
    bad = tmp_path / "bad.html"
    bad.write_text('<!DOCTYPE html><html lang="en"><head><title>x</title></head><body><p id="a"><p id="a"></body></html>')
    checked = run_vnu([bad])
    assert checked.returncode != 0
    assert "Duplicate ID" in checked.stderr + checked.stdout
