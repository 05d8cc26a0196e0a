"""`newsletter new` and `newsletter check` through the CLI runner."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner

from newsletter.authoring.issue_file import read_issue
from newsletter.authoring.lint import GMAIL_CLIP_BYTES, check_issue, size_problems
from newsletter.cli import cli
from newsletter.cli.issue_cmds import slugify
from newsletter.config import Settings

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "issues" / "2019-03-01-hanoi-summit.md"

BROKEN = """\
---
title: Broken
preheader: P
sendat: 2019-03-01T14:00:00+00:00
send_at: 2019-03-01T14:00:00
---
Intro.

## Headline
Speaker: A
Link: example.com

Body.
"""


NO_DB = "; lists not checked (no database yet)"


def run(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


# --- new ------------------------------------------------------------------------------------


def test_new_writes_a_dated_slugged_file_whose_sample_text_fails_strict(workdir: Path) -> None:
    result = run("new", "Café & Crème: Zoë's 🎉 round-up")
    assert result.exit_code == 0, result.output
    expected = Path("issues") / f"{date.today().isoformat()}-cafe-creme-zoes-round-up.md"
    assert result.output.strip() == str(expected)
    assert (workdir / expected).is_file()
    issue = read_issue(workdir / expected)
    assert issue.title == "Café & Crème: Zoë's 🎉 round-up"
    assert issue.date == date.today()
    assert len(issue.takeaways) == 1 and issue.takeaways[0].speaker
    checked = run("check", str(expected))
    assert checked.exit_code == 0, checked.output  # it parses and renders: only a warning
    assert "warning: " in checked.output and "skeleton's sample text" in checked.output
    assert checked.output.strip().endswith("1 file checked: 0 errors, 1 warning" + NO_DB)
    assert run("check", "--strict", str(expected)).exit_code == 1


def test_new_with_date_option(workdir: Path) -> None:
    result = run("new", "Hanoi", "--date", "2019-03-01")
    assert result.exit_code == 0, result.output
    assert read_issue(workdir / "issues" / "2019-03-01-hanoi.md").date == date(2019, 3, 1)


def test_new_refuses_to_overwrite(workdir: Path) -> None:
    assert run("new", "Same title", "--date", "2020-01-01").exit_code == 0
    path = workdir / "issues" / "2020-01-01-same-title.md"
    path.write_text("edited by hand", encoding="utf-8")
    result = run("new", "Same title", "--date", "2020-01-01")
    assert result.exit_code == 1
    assert "issues/2020-01-01-same-title.md already exists" in result.output
    assert path.read_text(encoding="utf-8") == "edited by hand"


def test_new_uses_configured_issues_dir(workdir: Path) -> None:
    (workdir / "newsletter.toml").write_text('issues_dir = "content/issues"\n', encoding="utf-8")
    result = run("new", "Elsewhere", "--date", "2020-01-01")
    assert result.exit_code == 0, result.output
    assert (workdir / "content" / "issues" / "2020-01-01-elsewhere.md").is_file()


@pytest.mark.parametrize(
    ("title", "slug"),
    [
        ("Hello, World!", "hello-world"),
        ("  Spaces   everywhere ", "spaces-everywhere"),
        ("Ünïcödé façade", "unicode-facade"),
        ("🎉🎉", "issue"),
        ("שלום", "issue"),
        ("word " * 30, ("word-" * 12).rstrip("-")),
    ],
)
def test_slugify(title: str, slug: str) -> None:
    assert slugify(title) == slug


# --- check ----------------------------------------------------------------------------------


def test_check_clean_sample(workdir: Path) -> None:
    (workdir / "issues").mkdir()
    shutil.copy(SAMPLE, workdir / "issues")
    result = run("check")
    assert result.exit_code == 0, result.output
    assert result.output == "1 file checked: no problems; lists not checked (no database yet)\n"


def test_check_broken_file_lists_each_problem(workdir: Path) -> None:
    (workdir / "broken.md").write_text(BROKEN, encoding="utf-8")
    result = run("check", "broken.md")
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        "broken.md:4: error: unknown key 'sendat' (did you mean 'send_at'?); valid keys: title, "
        "subject, preheader, date, lists, send_at, language, segment, track_clicks, track_opens, "
        "archive, subjects, preheaders, ab_test",
        "broken.md:5: error: send_at '2019-03-01T14:00:00' has no timezone: add a UTC offset "
        "like +00:00 or a zone name like Europe/Berlin",
        "broken.md:11: error: Link 'example.com' is not an absolute http(s) URL: write the full "
        "address, like https://example.com/page",
        "1 file checked: 3 errors, 0 warnings; lists not checked (no database yet)",
    ]


def test_warnings_pass_unless_strict(workdir: Path) -> None:
    (workdir / "w.md").write_text(
        "---\ntitle: T\n---\n## H\nSpeaker: A\n\nBody.\n", encoding="utf-8"
    )
    result = run("check", "w.md")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "w.md:1: warning: no preheader: add 'preheader: ...' (the preview line shown after the "
        "subject)",
        "1 file checked: 0 errors, 1 warning; lists not checked (no database yet)",
    ]
    assert run("check", "--strict", "w.md").exit_code == 1


def test_check_defaults_to_every_issue_in_the_folder(workdir: Path) -> None:
    (workdir / "issues").mkdir()
    shutil.copy(SAMPLE, workdir / "issues")
    (workdir / "issues" / "2020-01-01-broken.md").write_text(BROKEN, encoding="utf-8")
    (workdir / "issues" / "notes.txt").write_text("not an issue", encoding="utf-8")
    result = run("check")
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[-1] == "2 files checked: 3 errors, 0 warnings; lists not checked (no database yet)"
    assert all(line.startswith("issues/2020-01-01-broken.md:") for line in lines[:-1])


def test_check_without_issues_folder(workdir: Path) -> None:
    result = run("check")
    assert result.exit_code == 1
    assert result.output.startswith("error: issues/: no issues folder here")
    assert len(result.output.strip().splitlines()) == 1


def test_check_missing_file(workdir: Path) -> None:
    result = run("check", "nope.md")
    assert result.exit_code == 1
    assert result.output == "error: nope.md: no such file\n"


def test_check_reports_custom_template_without_address_or_unsubscribe(workdir: Path) -> None:
    (workdir / "issues").mkdir()
    shutil.copy(SAMPLE, workdir / "issues")
    (workdir / "templates").mkdir()
    (workdir / "templates" / "email.txt.j2").write_text("{{ issue.title }}\n", encoding="utf-8")
    result = run("check")
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    template = str((workdir / "templates" / "email.txt.j2").resolve())
    assert any(line.startswith(f"{template}:1: error: no postal address") for line in lines)
    assert any(line.startswith(f"{template}:1: error: no unsubscribe link") for line in lines)


# --- the Gmail clipping rule ----------------------------------------------------------------


def test_size_rule_thresholds() -> None:
    assert size_problems("x.md", "a" * 80_000) == []
    [warning] = size_problems("x.md", "a" * 95_000)
    assert warning.severity == "warning"
    [error] = size_problems("x.md", "é" * (GMAIL_CLIP_BYTES // 2 + 1))  # bytes, not characters
    assert error.severity == "error" and error.line == 1
    assert "over Gmail's 102,000-byte limit (Gmail clips it)" in error.message


def test_oversized_issue_is_an_error(workdir: Path) -> None:
    paragraph = "A sentence that takes up some room in the final email. " * 12
    takeaways = "".join(
        f"## Takeaway number {n}\nSpeaker: Someone {n}\nRole: Expert\n"
        f"Link: https://example.com/{n}\n\n{paragraph}\n\n"
        for n in range(150)
    )
    path = workdir / "big.md"
    path.write_text(f"---\ntitle: Big\npreheader: P\n---\nIntro.\n\n{takeaways}", encoding="utf-8")
    problems = check_issue(path, Settings())
    assert [(p.line, p.severity) for p in problems] == [(1, "error")]
    assert "Gmail clips it" in problems[0].message
    result = run("check", "big.md")
    assert result.exit_code == 1
    assert result.output.startswith("big.md:1: error: final HTML is ")
