"""`newsletter check` on issue files: unclosed quotes, missing takeaways, links the renderer
drops."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from newsletter.authoring.markdown import to_html_and_text
from newsletter.cli import cli
from tests.support.issue_files import errors_at, minimal, problems_of, write

TAKEAWAY = "## Headline\nSpeaker: A\n\nBody.\n"


# --- front matter ---------------------------------------------------------------------------


@pytest.mark.parametrize("quote", ['"', "'"])
def test_unclosed_quote_is_reported_where_it_opens(tmp_path: Path, quote: str) -> None:
    text = (
        "---\n"
        "preheader: P\n"
        f"title: {quote}Why the summit failed\n"  # line 3: the quote is never closed
        "subject: The summit\n"
        "date: 2019-03-01\n"
        "---\n" + TAKEAWAY
    )
    assert errors_at(tmp_path, text) == [
        (
            3,
            f"front matter is not valid YAML (the {quote} that starts this value is never "
            f"closed): close the quote at the end of the value, or remove it",
        )
    ]


def test_a_quote_closed_on_a_later_line_is_valid_yaml(tmp_path: Path) -> None:
    text = '---\ntitle: "Why the summit\n  failed"\npreheader: P\n---\n' + TAKEAWAY
    assert problems_of(tmp_path, text) == []


# --- takeaways ------------------------------------------------------------------------------


def test_intro_without_takeaways_is_a_warning_naming_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "---\ntitle: T\npreheader: P\n---\nJust an intro.\n\nMore intro.\n")
    from newsletter.authoring.issue_file import parse_issue

    issue, problems = parse_issue(path)
    assert issue is not None  # a warning does not stop the issue being built
    assert [(p.path, p.line, p.severity) for p in problems] == [(str(path), 5, "warning")]
    assert problems[0].message.startswith("no takeaways: add a '## Headline' section")


def test_no_takeaways_warning_is_on_the_first_line_after_the_front_matter(tmp_path: Path) -> None:
    found = problems_of(tmp_path, minimal("date: 2019-03-01\n", body="\n\nLate intro.\n"))
    assert [(line, sev) for line, sev, _ in found] == [(6, "warning")]


def test_issue_with_takeaways_has_no_takeaway_warning(tmp_path: Path) -> None:
    assert problems_of(tmp_path, minimal(body="Intro.\n\n" + TAKEAWAY)) == []


# --- links the renderer refuses -------------------------------------------------------------

DROPPED_LINKS = [
    ("jav&#x61;script:alert(1)", "javascript:alert(1)"),
    ("JAVASCRIPT:alert(1)", "JAVASCRIPT:alert(1)"),
    ("&#106;avascript:alert(1)", "javascript:alert(1)"),
    ("JavaScript:alert(1)", "JavaScript:alert(1)"),
    ("vbscript:msgbox(1)", "vbscript:msgbox(1)"),
    ("VBScript:msgbox(1)", "VBScript:msgbox(1)"),
    ("file:///etc/passwd", "file:///etc/passwd"),
    ("FILE:///etc/passwd", "FILE:///etc/passwd"),
    ("data:text/html,hi", "data:text/html,hi"),
    ("&#100;ata:text/html,hi", "data:text/html,hi"),
]


def _link_warning(href: str) -> str:
    return (
        f"link '{href}' is not an http(s) or mailto link: readers will see its Markdown as "
        f"plain text, not a link; link to a web page (https://...) instead"
    )


@pytest.mark.parametrize(("written", "href"), DROPPED_LINKS)
def test_links_the_renderer_drops_are_warnings(tmp_path: Path, written: str, href: str) -> None:
    body = f"Intro line one\nthen [x]({written}) on line two.\n\n" + TAKEAWAY
    assert problems_of(tmp_path, minimal(body=body)) == [(6, "warning", _link_warning(href))]


def test_dropped_links_in_takeaway_bodies_references_and_autolinks(tmp_path: Path) -> None:
    body = (
        "Intro.\n\n"
        "## Headline\n"  # line 7
        "Speaker: A\n\n"
        "A body [by reference][bad]\n"  # line 10
        "and <javascript:alert(2)>.\n"  # line 11
        "\n"
        "[bad]: javascript:alert(1)\n"  # line 13: a reference link is reported where its URL is
    )
    assert problems_of(tmp_path, minimal(body=body)) == [
        (11, "warning", _link_warning("javascript:alert(2)")),
        (13, "warning", _link_warning("javascript:alert(1)")),
    ]


def test_dropped_link_without_text_is_only_the_scheme_warning(tmp_path: Path) -> None:
    body = "Intro [](javascript:alert(1)).\n\n" + TAKEAWAY
    assert problems_of(tmp_path, minimal(body=body)) == [
        (5, "warning", _link_warning("javascript:alert(1)"))
    ]


def test_images_the_renderer_drops_are_errors(tmp_path: Path) -> None:
    body = "Intro\n![a chart](JAVASCRIPT:alert(1)) and ![](data:text/html,x).\n\n" + TAKEAWAY
    assert errors_at(tmp_path, minimal(body=body)) == [
        (
            6,
            "image 'JAVASCRIPT:alert(1)' is not an http(s) image: readers will see its Markdown "
            "as plain text, not the image; use an image at an https:// address instead",
        ),
        (
            6,
            "image 'data:text/html,x' is not an http(s) image: readers will see its Markdown "
            "as plain text, not the image; use an image at an https:// address instead",
        ),
    ]


def test_other_schemes_are_still_errors(tmp_path: Path) -> None:
    body = "Intro [x](ftp://example.com/f) and ![y](data:image/png;base64,AAAA).\n\n" + TAKEAWAY
    found = errors_at(tmp_path, minimal(body=body))
    assert [(line, message.split(" is ")[0]) for line, message in found] == [
        (5, "link 'ftp://example.com/f'"),
        (5, "image 'data:image/png;base64,AAAA'"),
    ]


@pytest.mark.parametrize(("written", "href"), DROPPED_LINKS)
def test_the_renderer_still_refuses_those_links(written: str, href: str) -> None:
    html, text = to_html_and_text(f"[x]({written}) and ![y]({written})")
    assert "<a " not in html and "<img " not in html
    assert text.startswith("[x](")


def test_check_command_reports_the_warning(workdir: Path) -> None:
    (workdir / "x.md").write_text(
        minimal(body="Intro [x](jav&#x61;script:alert(1)).\n\n" + TAKEAWAY), encoding="utf-8"
    )
    result = CliRunner().invoke(cli, ["check", "x.md"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        f"x.md:5: warning: {_link_warning('javascript:alert(1)')}",
        "1 file checked: 0 errors, 1 warning; lists not checked (no database yet)",
    ]
