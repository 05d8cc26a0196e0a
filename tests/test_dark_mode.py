"""Dark mode without a browser (issue 27, point 3): the default email's dark styles reach the
final HTML past premailer; the Outlook.com rules repeat the media query's palette; every text
and button edge meets WCAG AA in both palettes, computed from the colours the email, the
archive page and the subscriber pages declare (`tests/support/contrast.py`); a custom
template keeps working, and `check` notes one that declares no `color-scheme`.
The same pages in real Chromium: tests/test_dark_browser.py."""

from __future__ import annotations

import re
from pathlib import Path

import lxml.html
import pytest
from click.testing import CliRunner

from newsletter.authoring.issue_file import read_issue
from newsletter.authoring.lint import check_templates
from newsletter.authoring.render import render_issue
from newsletter.cli import cli
from newsletter.config import Settings
from tests.support.contrast import declarations, failing, ratio, rgb, rules, text_pairs

SAMPLE = Path(__file__).resolve().parent.parent / "issues" / "2019-03-01-hanoi-summit.md"
_DARK_MEDIA = re.compile(r"@media \(prefers-color-scheme: dark\) \{(.*?)\n\s*\}", re.S)
_CUSTOM = (
    "<mjml><mj-body><mj-section><mj-column><mj-text>{{ issue.title }} "
    "{{ settings.postal_address }} <a href='{{ unsubscribe_url }}'>Unsubscribe</a>"
    "</mj-text></mj-column></mj-section></mj-body></mjml>"
)


@pytest.fixture(scope="module")
def sample() -> tuple[str, str]:
    """The sample issue's final email HTML and web page, rendered with default settings."""
    out = render_issue(read_issue(SAMPLE), Settings())
    return out.html, out.web_html


def _dark_rules(html: str) -> tuple[dict, dict]:
    """Selector -> declarations of the email's dark rules: the media query's, Outlook.com's."""
    doc = lxml.html.document_fromstring(html)
    light = rules(doc, dark=False)
    media = {sel: d for sel, d in rules(doc, dark=True) if (sel, d) not in light}
    return media, {sel: d for sel, d in light if sel.startswith("[data-og")}


def test_contrast_arithmetic_matches_wcag():
    assert ratio((0, 0, 0), (255, 255, 255)) == pytest.approx(21)
    assert ratio(rgb("#777"), rgb("#fff")) == pytest.approx(4.48, abs=0.01)  # the classic fail
    assert rgb("rgb(17, 20, 24)") == rgb("#111418")


def test_dark_styles_survive_premailer_into_the_final_html(sample):
    html, _ = sample
    head = html[: html.index("<body")]
    assert '<meta name="color-scheme" content="light dark">' in head
    assert '<meta name="supported-color-schemes" content="light dark">' in head
    assert ":root { color-scheme: light dark; }" in head
    [media] = _DARK_MEDIA.findall(head)
    assert media.count("!important") >= 8  # premailer would have stripped every one
    assert "[data-ogsc] .nl-text > div" in head and "[data-ogsb] .nl-card" in head
    assert "data-premailer" not in html
    # nothing of the dark palette was inlined: the light colours stay in the style attributes
    dark_colours = set(re.findall(r"#[0-9a-f]{6}", media))
    inline = " ".join(re.findall(r'style="([^"]*)"', html[html.index("<body") :]))
    assert dark_colours and not dark_colours & set(re.findall(r"#[0-9a-f]{6}", inline))
    assert "nl-card" in html and "nl-outer" in html and "nl-page" in html


def test_dark_styles_reach_the_built_message(workdir):
    """The .eml `build` writes (tracked links, personalised, quoted-printable) keeps them."""
    from email import policy
    from email.parser import BytesParser

    result = CliRunner().invoke(cli, ["build", str(SAMPLE), "--out", "out"])
    assert result.exit_code == 0, result.output
    eml = (workdir / "out" / SAMPLE.stem / "sample.eml").read_bytes()
    html = BytesParser(policy=policy.default).parsebytes(eml).get_body(("html",)).get_content()
    assert '<meta name="color-scheme" content="light dark">' in html
    [media] = _DARK_MEDIA.findall(html)
    assert ".nl-card a { color: #7ab7ff !important; }" in media
    assert "[data-ogsc] .nl-card a { color: #7ab7ff !important; }" in html


def test_outlook_rules_repeat_the_media_query_palette(sample):
    html, _ = sample
    media, outlook = _dark_rules(html)
    assert len(outlook) >= 7 and len(media) >= 8
    by_selector = {
        one.strip(): d for sel, d in media.items() for one in sel.split(",") if one.strip()
    }
    for selector, decls in outlook.items():
        for one in selector.split(","):
            prefix, plain = one.strip().split(" ", 1)
            assert prefix in ("[data-ogsc]", "[data-ogsb]")
            assert by_selector[plain] == decls, one
            wanted = "color" if prefix == "[data-ogsc]" else "background-color"
            assert wanted in decls, one


@pytest.mark.parametrize("dark", [False, True], ids=["light", "dark"])
def test_email_and_web_page_meet_wcag_aa(sample, dark):
    for page in sample:
        pairs = text_pairs(page, dark=dark)
        assert len(pairs) >= 30  # every heading, paragraph and link was found
        assert failing(pairs) == []
        backgrounds = {p.bg for p in pairs}
        assert ({rgb("#1b1f24"), rgb("#111418")} <= backgrounds) is dark


def test_a_planted_low_contrast_colour_is_caught(sample):
    html, _ = sample
    planted = html.replace("color: #e6e8eb !important", "color: #555b63 !important", 1)
    assert planted != html
    assert any("Hi __NL_" in line for line in failing(text_pairs(planted, dark=True)))
    assert failing(text_pairs(planted, dark=False)) == []  # the light palette is untouched


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("dark", [False, True], ids=["light", "dark"])
def test_subscriber_pages_meet_wcag_aa(web, dark):
    from newsletter.audience.subscribers import add_subscriber

    ann = web.member("ann@example.org", "Ann")
    bea = add_subscriber(web.engine, "bea@example.org", "news", status="unconfirmed")
    pages = {
        "subscribe": "/subscribe",
        "unsubscribe": f"/unsubscribe/{web.token('unsubscribe', ann['id'])}",
        "preferences": f"/preferences/{web.token('preferences', ann['id'], 0)}",
        "confirm": f"/confirm/{web.signer.make_confirm(bea['id'], web.list['id'])}",
    }
    edges = 0
    for name, path in pages.items():
        response = web.client.get(path)
        assert response.status_code == 200, name
        page = response.get_data(as_text=True)
        assert '<meta name="color-scheme" content="light dark">' in page
        pairs = text_pairs(page, dark=dark)
        assert len(pairs) >= 4, name
        assert failing(pairs) == [], name
        edges += sum(p.what.startswith("edge of button") for p in pairs)
        if name in ("subscribe", "preferences"):  # a text field's edge counts too
            assert any(p.what.startswith("edge of input") for p in pairs), name
        labels = [p for p in pairs if p.what.startswith("<button>")]
        assert labels and all(p.ratio >= 4.5 for p in labels), name
    assert edges >= 4  # every page has a button; preferences has two


def test_custom_template_keeps_working_and_check_notes_no_color_scheme(workdir):
    (workdir / "templates").mkdir()
    custom = workdir / "templates" / "email.mjml.j2"
    custom.write_text(_CUSTOM, encoding="utf-8")
    settings = Settings()
    html = render_issue(read_issue(SAMPLE), settings).html
    assert "color-scheme" not in html and settings.postal_address in html
    [note] = check_templates(settings)
    assert note.severity == "note" and note.path == str(custom.resolve())
    assert "declares no color-scheme" in note.message
    (workdir / "issues").mkdir()
    (workdir / "issues" / SAMPLE.name).write_bytes(SAMPLE.read_bytes())
    for args in (["check"], ["check", "--strict"]):
        result = CliRunner().invoke(cli, args, catch_exceptions=False)
        assert result.exit_code == 0, result.output  # a note never fails `check`
        assert f"{custom.resolve()}:1: note: declares no color-scheme" in result.output
        assert "1 file checked: 0 errors, 0 warnings, 1 note;" in result.output
    custom.write_text(
        _CUSTOM.replace(
            "<mj-body>",
            '<mj-head><mj-raw><meta name="color-scheme" '
            'content="light only"></mj-raw></mj-head><mj-body>',
        ),
        encoding="utf-8",
    )
    assert check_templates(settings) == []


def test_dark_palette_declarations_parse_as_the_cascade_reads_them():
    decls = declarations("background: #111418 !important; border: 1px solid #3a414a; color: red")
    assert decls["background-color"] == ("#111418", True)
    assert decls["border-top-color"] == ("#3a414a", False)
    assert decls["color"] == ("red", False)
