"""The render pipeline: content, placeholders, personalisation, CSS survival, goldens, overrides."""

from __future__ import annotations

import html
import os
import re
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from newsletter import models
from newsletter.authoring import placeholders
from newsletter.authoring.issue_file import read_issue
from newsletter.authoring.lint import check_templates
from newsletter.authoring.markdown import to_html_and_text
from newsletter.authoring.placeholders import personalise
from newsletter.authoring.readers import reader
from newsletter.authoring.render import EMAIL_TEMPLATE, environment, render_issue, template_context
from newsletter.config import Settings
from newsletter.errors import RenderError

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "issues" / "2019-03-01-hanoi-summit.md"
GOLDEN = Path(__file__).resolve().parent / "golden" / SAMPLE.stem
EVIL_NAME = '<b>Zoë & "Tom"</b>'


@pytest.fixture
def settings(workdir: Path) -> Settings:
    """Default settings in an empty project folder (so no project templates interfere)."""
    return Settings()


@pytest.fixture(scope="module")
def sample_issue() -> models.Issue:
    return read_issue(SAMPLE)


def _issue(**changes: object) -> models.Issue:
    base = models.Issue(
        id="2024-01-01-test",
        path=Path("issues/2024-01-01-test.md"),
        title="Test issue",
        subject="Test subject",
        preheader="A short preheader",
        date=date(2024, 1, 1),
        lists=("weekly",),
        send_at=None,
        intro_md="Hello *readers*.",
        takeaways=(
            models.Takeaway(
                "First <headline>",
                "Ada Lovelace",
                "Analyst",
                "Body with [a link](https://example.org/a) and <script>alert(1)</script>.",
                link="https://example.org/more",
                image="https://example.org/i.png",
                image_alt="A chart of things",
            ),
        ),
        source_hash="x",
    )
    return replace(base, **changes)


def _recipient(**changes: str) -> models.Recipient:
    values = {
        "email": "zoe@example.org",
        "name": EVIL_NAME,
        "unsubscribe_url": "https://news.example.org/u?t=1&x=2",
        "preferences_url": "https://news.example.org/p/1",
        "view_url": "https://news.example.org/v/1",
        **changes,
    }
    return models.Recipient(**values)


def test_each_takeaway_appears_in_html_and_text(sample_issue, settings):
    out = render_issue(sample_issue, settings)
    assert len(sample_issue.takeaways) >= 5
    flat_text = " ".join(out.text.split())
    for t in sample_issue.takeaways:
        for value in (t.headline, t.speaker, t.role):
            assert html.escape(value, quote=False) in out.html, value
            assert " ".join(value.split()) in flat_text, value
        first_words = " ".join(to_html_and_text(t.body_md)[1].split()[:6])
        assert first_words in flat_text
        assert first_words in " ".join(html.unescape(re.sub(r"<[^>]+>", "", out.html)).split())
        assert f'href="{t.link}"' in out.html
        assert f"Read more: {t.link}" in out.text


def test_placeholders_survive_mjml_and_premailer(sample_issue, settings):
    out = render_issue(sample_issue, settings)
    assert f'href="{placeholders.UNSUBSCRIBE_URL}"' in out.html
    assert f'href="{placeholders.PREFERENCES_URL}"' in out.html
    assert f'href="{placeholders.VIEW_URL}"' in out.html
    greeting = reader("name", "there")  # the default templates' "Hi {{ reader(...) }},"
    assert f"Hi {greeting}," in out.html
    for placeholder in (
        greeting,
        placeholders.UNSUBSCRIBE_URL,
        placeholders.PREFERENCES_URL,
        placeholders.VIEW_URL,
    ):
        assert placeholder in out.text
    assert not any(p in out.web_html for p in placeholders.PLACEHOLDERS)
    assert "__NL_" not in out.web_html


def test_personalise_escapes_name_for_html_and_keeps_it_raw_in_text(settings):
    out = personalise(render_issue(_issue(), settings), _recipient())
    assert "Hi &lt;b&gt;Zoë &amp; &quot;Tom&quot;&lt;/b&gt;," in out.html
    assert "<b>Zoë" not in out.html
    assert f"Hi {EVIL_NAME}," in out.text
    assert 'href="https://news.example.org/u?t=1&amp;x=2"' in out.html
    assert "Unsubscribe: https://news.example.org/u?t=1&x=2" in out.text
    for part in (out.html, out.text, out.subject):
        assert "__NL_" not in part


def test_personalise_subject_never_gets_a_new_line(settings):
    issue = _issue(subject=f"News for {placeholders.NAME}")
    rendered = render_issue(issue, settings)
    out = personalise(rendered, _recipient(name="Eve\r\nBcc: all@example.org\n"))
    assert out.subject == "News for Eve Bcc: all@example.org"
    assert "\r" not in out.subject and "\n" not in out.subject


def test_personalise_empty_name_falls_back_and_values_are_not_expanded_twice(settings):
    rendered = render_issue(_issue(), settings)
    assert "Hi there," in personalise(rendered, _recipient(name="  ")).html
    sneaky = personalise(rendered, _recipient(name=placeholders.UNSUBSCRIBE_URL))
    assert f"Hi {placeholders.UNSUBSCRIBE_URL}," in sneaky.text


def test_media_rules_and_important_survive_premailer(settings):
    out = render_issue(_issue(), settings).html
    assert "@media only screen and (max-width: 480px)" in out
    assert ".nl-headline { font-size: 20px !important; }" in out
    assert re.search(
        r"@media only screen and \(min-width:480px\) \{ \.mj-column-per-100 "
        r"\{ width:100% !important;",
        out,
    )
    # and the inline CSS really was inlined
    assert re.search(r'<h2 class="nl-headline" style="[^"]*font-size:22px', out)


def test_outlook_conditional_comments_survive(settings):
    from mjml import mjml2html

    env = environment(settings)
    mjml = env.get_template(EMAIL_TEMPLATE).render(template_context(_issue(), settings, ""))
    before = mjml2html(mjml, fonts={})
    after = render_issue(_issue(), settings).html
    for marker in (
        "<!--[if mso | IE]>",
        "<!--[if mso]>",
        "<!--[if lte mso 11]>",
        "<!--[if !mso]><!-->",
        "<![endif]-->",
    ):
        assert after.count(marker) == before.count(marker) > 0, marker


def test_email_is_good_email(settings):
    issue = _issue()
    out = render_issue(issue, replace(settings, language="fr"), list_name="Weekly")
    doc = out.html
    assert doc.startswith("<!doctype html>")
    assert re.search(r'<html[^>]* lang="fr"', doc)
    assert "<title>Test issue</title>" in doc
    assert re.search(r'<div style="display:none;[^"]*">A short preheader', doc)
    for img in re.findall(r"<img\b[^>]*>", doc):
        assert re.search(r'alt="[^"]+"', img), img
    for inner in re.findall(r"<a\b[^>]*>(.*?)</a>", doc, re.S):
        assert re.sub(r"<[^>]+>", "", inner).strip(), "link without visible text"
    assert ">Lire la suite : First &lt;headline&gt;</a>" in doc  # the language's own words
    assert settings.postal_address in doc and "Weekly" in doc
    assert "fonts.googleapis" not in doc and "<link" not in doc


def test_raw_html_in_markdown_is_escaped(settings):
    out = render_issue(_issue(), settings)
    assert "<script>" not in out.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in out.html
    assert "<script>" not in out.web_html


def test_text_part_is_wrapped_and_writes_links_out(sample_issue, settings):
    out = render_issue(sample_issue, settings).text
    long_lines = [line for line in out.splitlines() if len(line) > 72 and "://" not in line]
    assert long_lines == []
    _, text = to_html_and_text("See [the report](https://example.org/r).\n\n- one\n- two")
    assert "See the report (https://example.org/r)." in text
    assert "- one\n- two" in text  # a tight list stays tight


def test_rendering_is_deterministic(sample_issue, settings):
    first = render_issue(sample_issue, settings)
    second = render_issue(sample_issue, settings)
    assert first == second


def test_golden_files_for_the_sample_issue(sample_issue, settings):
    """Regenerate with UPDATE_GOLDEN=1 after an intended change, then review the diff."""
    out = render_issue(sample_issue, settings)
    parts = {"email.html": out.html, "email.txt": out.text, "web.html": out.web_html}
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.mkdir(parents=True, exist_ok=True)
        for name, data in parts.items():
            (GOLDEN / name).write_text(data, encoding="utf-8")
    for name, data in parts.items():
        assert (GOLDEN / name).read_text(encoding="utf-8") == data, (
            f"{name} differs from tests/golden; rerun with UPDATE_GOLDEN=1 if intended"
        )


def test_project_template_overrides_defaults_file_by_file(workdir, settings):
    (workdir / "templates").mkdir()
    (workdir / "templates" / "email.txt.j2").write_text(
        "CUSTOM {{ issue.title }}\n{{ settings.postal_address }}\n{{ unsubscribe_url }}\n"
    )
    out = render_issue(_issue(), settings)
    assert out.text.startswith("CUSTOM Test issue")
    assert "nl-headline" in out.html  # email.mjml.j2 still the default
    assert check_templates(settings) == []


def test_check_templates_flags_missing_address_and_unsubscribe(workdir, settings):
    assert check_templates(settings) == []
    custom = workdir / "templates" / "email.mjml.j2"
    custom.parent.mkdir()
    custom.write_text(
        "<mjml><mj-body><mj-section><mj-column><mj-text>{{ issue.title }}"
        "</mj-text></mj-column></mj-section></mj-body></mjml>"
    )
    problems = check_templates(settings)
    assert [p.severity for p in problems] == ["error", "error", "note"]  # note: no color-scheme
    assert all(p.path == str(custom.resolve()) for p in problems)
    assert "postal address" in problems[0].message
    assert "unsubscribe" in problems[1].message


def test_template_errors_become_render_errors(workdir, settings):
    (workdir / "templates").mkdir()
    (workdir / "templates" / "email.mjml.j2").write_text("<mjml>\n{% if %}\n</mjml>")
    with pytest.raises(RenderError, match=r"email.mjml.j2:2: template syntax error"):
        render_issue(_issue(), settings)
    problems = check_templates(settings)
    assert problems and problems[0].line == 2
    (workdir / "templates" / "email.mjml.j2").write_text("<mjml><mj-body><mj-section>")
    with pytest.raises(RenderError, match="invalid MJML"):
        render_issue(_issue(), settings)
