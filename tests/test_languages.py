"""The shipped catalogues: complete (every string of the templates and views, no fuzzy or empty
entry, placeholders kept), compiled `.mo` files up to date, shipped by a plain install, and each
language renders the sample issue and every page with no catalogue string left in English."""

from __future__ import annotations

import gettext
import re
import subprocess
import sys
from dataclasses import replace

import pytest
from babel.messages.pofile import read_po

from newsletter import i18n
from newsletter.authoring.issue_file import read_issue
from newsletter.authoring.render import render_issue
from tests.support.catalogues import ROOT, catalogue_problems, english_left, wanted_messages

SAMPLE = ROOT / "newsletter" / "default_issue" / "2019-03-01-hanoi-summit.md"
TRANSLATED = [lang for lang in i18n.SHIPPED if lang != "en"]


def test_every_string_is_in_every_shipped_catalogue_and_none_is_fuzzy_or_empty():
    wanted = wanted_messages()
    assert "Unsubscribe" in wanted and "Your welcome mail is on its way." in wanted
    assert any(isinstance(w, tuple) for w in wanted)  # ngettext, for counts
    for lang in i18n.SHIPPED:
        po = i18n.LOCALES / lang / "LC_MESSAGES" / "messages.po"
        assert catalogue_problems(po, wanted) == [], lang


def test_the_catalogue_check_finds_missing_fuzzy_empty_and_broken_entries(tmp_path):
    source = (i18n.LOCALES / "fr" / "LC_MESSAGES" / "messages.po").read_text(encoding="utf-8")
    planted = source.replace('msgid "Unsubscribe"\nmsgstr "Se désabonner"\n', "")
    planted = planted.replace(
        'msgid "Save my choices"\nmsgstr "Enregistrer mes choix"',
        '#, fuzzy\nmsgid "Save my choices"\nmsgstr "Enregistrer mes choix"',
    )
    planted = planted.replace('msgid "Name"\nmsgstr "Nom"', 'msgid "Name"\nmsgstr ""')
    planted = planted.replace('"Bonjour %(name)s,"', '"Bonjour %(nom)s,"')
    assert planted.count("msgid") == source.count("msgid") - 1
    po = tmp_path / "messages.po"
    po.write_text(planted, encoding="utf-8")
    found = catalogue_problems(po, wanted_messages())
    assert "missing: 'Unsubscribe'" in found
    assert "fuzzy: 'Save my choices'" in found and "empty: 'Name'" in found
    assert any(p.startswith("'Hi %(name)s,'") for p in found)


def test_compiled_catalogues_say_what_their_po_files_say():
    for lang in i18n.SHIPPED:
        folder = i18n.LOCALES / lang / "LC_MESSAGES"
        catalog = read_po((folder / "messages.po").open("rb"))
        with (folder / "messages.mo").open("rb") as mo:
            compiled = gettext.GNUTranslations(mo)
        for m in catalog:
            if not m.id:
                continue
            if isinstance(m.id, str):
                assert compiled.gettext(m.id) == m.string, (lang, m.id)
            else:
                assert compiled.ngettext(m.id[0], m.id[1], 1) == m.string[0], (lang, m.id)
        assert len(compiled._catalog) - 1 >= len([m for m in catalog if m.id])  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def sample_issue():
    return read_issue(SAMPLE)


def test_each_language_renders_the_sample_issue_with_no_english_left(sample_issue, tmp_path):
    from newsletter.config import Settings

    settings = Settings(issues_dir=str(tmp_path), templates_dir=str(tmp_path / "templates"))
    own = SAMPLE.read_text(encoding="utf-8") + settings.postal_address + settings.sender_name
    english = render_issue(sample_issue, settings, language="en")
    found = english_left("en", english.html + english.text + english.web_html, own)
    assert {"Unsubscribe", "Manage preferences", "View in browser"} <= set(found)  # it can fail
    for lang in TRANSLATED:
        out = render_issue(sample_issue, settings, language=lang)
        for part in (out.html, out.text, out.web_html):
            assert english_left(lang, part, own) == [], (lang, part[:200])
            assert f'lang="{lang}"' in part or part is out.text


def test_mail_dates_are_long_and_page_dates_medium_in_the_language(sample_issue, tmp_path):
    from newsletter.config import Settings

    settings = Settings(issues_dir=str(tmp_path), templates_dir=str(tmp_path / "templates"))
    german = render_issue(sample_issue, settings, language="de")
    assert ">1. März 2019</p>" in german.html and "\n1. März 2019\n" in german.text
    assert '<time datetime="2019-03-01">01.03.2019</time>' in german.web_html
    vietnamese = render_issue(sample_issue, settings, language="vi")
    assert "1 tháng 3, 2019" in vietnamese.html


def test_lang_and_dir_follow_the_language(sample_issue, tmp_path):
    from newsletter.config import Settings

    settings = Settings(issues_dir=str(tmp_path), templates_dir=str(tmp_path / "templates"))
    arabic = render_issue(replace(sample_issue, language="ar"), settings)
    assert re.search(r'<html lang="ar" dir="rtl"', arabic.html)
    assert '<html lang="ar" dir="rtl">' in arabic.web_html
    assert "Unsubscribe" in arabic.html  # no Arabic catalogue: the template's own words
    french = render_issue(sample_issue, replace(settings, language="fr"))
    assert re.search(r'<html lang="fr" dir="ltr"', french.html) and "Se désabonner" in french.html


def test_a_plain_install_ships_the_catalogues(tmp_path):
    """`pip install .` (not editable): the .po and .mo files are package data."""
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target),
         str(ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )  # fmt: skip
    for lang in i18n.SHIPPED:
        folder = target / "newsletter" / "locales" / lang / "LC_MESSAGES"
        assert (folder / "messages.po").is_file() and (folder / "messages.mo").is_file()
    # newsletter/default_templates links to templates/: the install holds the marked copy
    page = target / "newsletter" / "default_templates" / "pages" / "unsubscribe.html.j2"
    assert '{{ _("Unsubscribe") }}' in page.read_text(encoding="utf-8")
    probe = (
        "import newsletter, newsletter.i18n as i; "
        "print(newsletter.__file__); print(i.gettext('vi', 'Unsubscribe'))"
    )
    run = subprocess.run(
        [sys.executable, "-c", probe],
        env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    where, word = run.stdout.splitlines()
    assert where.startswith(str(target)) and word == "Hủy đăng ký"


def test_counts_take_the_language_plural_forms():
    one = (
        "This address is blocked for all of our newsletters, so we could not resubscribe it to "
        "%(lists)s. Please contact us."
    )
    many = (
        "This address is blocked for all of our newsletters, so we could not resubscribe it to "
        "these lists: %(lists)s. Please contact us."
    )
    assert "réabonner à %(lists)s" in i18n.ngettext("fr", one, many, 1)
    assert "réabonner à ces listes" in i18n.ngettext("fr", one, many, 2)
    assert "wieder für diese Listen" in i18n.ngettext("de", one, many, 3)
    assert "estas listas" in i18n.ngettext("es", one, many, 1_000_000)  # CLDR's "many"
    assert i18n.ngettext("vi", one, many, 1) == i18n.ngettext("vi", one, many, 5)  # one form
