"""Template errors are located diagnostics; `new SLUG` makes a draft that passes the strict check."""

from __future__ import annotations

import io
import shutil
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

from explainer.cli import main

from .conftest import TEMPLATES, snapshot


def run(*args: str) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        status = main(list(args))
    return status, out.getvalue() + err.getvalue()


def copy_templates(root: Path) -> Path:
    target = root / "templates"
    shutil.copytree(TEMPLATES, target)
    return target


def test_template_syntax_error_names_template_and_line(mini_site: Path) -> None:
    templates = copy_templates(mini_site)
    topic = templates / "topics.html"
    lines = topic.read_text().splitlines()
    lines[4] = "{% for x in %}"
    topic.write_text("\n".join(lines) + "\n")
    status, output = run("check", "--templates", "templates")
    assert status == 1
    assert "templates/topics.html:5: error: template error: " in output


def test_undefined_name_in_template_fails_at_its_line(mini_site: Path) -> None:
    assert run("build", "--templates", str(TEMPLATES))[0] == 0
    before = snapshot(mini_site / "site")
    templates = copy_templates(mini_site)
    story = templates / "story.html"
    text = story.read_text().replace("{{ facts.headline }}</h1>", "{{ facts.headlin }}</h1>")
    story.write_text(text)
    line = text.splitlines().index(next(ln for ln in text.splitlines() if "facts.headlin }}</h1>" in ln)) + 1
    status, output = run("build", "--templates", "templates")
    assert status == 1
    assert f"templates/story.html:{line}: error: template error: UndefinedError:" in output
    assert snapshot(mini_site / "site") == before


def test_new_story_passes_the_strict_check(mini_site: Path) -> None:
    status, output = run("new", "launch-pad-repairs")
    assert status == 0
    assert "content/stories/launch-pad-repairs/facts.yaml" in output
    assert run("check", "--strict", "--templates", str(TEMPLATES)) == (0, "check passed: 0 error(s), 0 warning(s)\n")
    assert "draft: true" in (mini_site / "content/stories/launch-pad-repairs/facts.yaml").read_text()


def test_new_refuses_bad_or_existing_names(mini_site: Path) -> None:
    assert run("new", "Bad_Name")[0] == 2
    assert run("new", "alpha")[0] == 2
    assert not (mini_site / "content/stories/Bad_Name").exists()


def test_list_templates_may_print_cards_whole_or_loop_over_them(mini_site: Path) -> None:
    """`{{ cards }}` prints every card once, unescaped and in order, exactly as a loop over them would."""
    templates = copy_templates(mini_site)
    shutil.copytree(mini_site / "content/stories/alpha", mini_site / "content/stories/beta")
    assert run("build", "--templates", "templates")[0] == 0
    whole = (mini_site / "site/index.html").read_text()
    macros = templates / "_macros.html"
    text = macros.read_text()
    assert "{{ cards }}" in text
    macros.write_text(text.replace("{{ cards }}", "{% for card in cards %}<!-- card -->{{ card }}\n{% endfor %}"))
    assert run("build", "--templates", "templates")[0] == 0
    looped = (mini_site / "site/index.html").read_text()
    listed = looped.split('<ul class="story-list">')[1].split("</ul>")[0]
    cards = [c.removesuffix("\n") for c in listed.split("<!-- card -->")[1:]]  # the newline the loop adds
    assert len(cards) == 2 and all(c.lstrip().startswith("<li>") and "&lt;" not in c for c in cards)
    assert "".join(cards) in whole
