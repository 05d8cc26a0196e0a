"""Which language (issue 27, part 2): a send's one language (the issue's, else its lists', else
the setting), kept with the send; the token pages in the send's language, else the list's;
Accept-Language for the pages of nobody in particular; `check` and `send` on lists that
disagree; `lists create/update --language`; the upgrade of a 0010 database."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from sqlalchemy import event, select, text

from newsletter import i18n
from newsletter.audience.list_edits import update_list
from newsletter.audience.lists import create_list, get_list
from newsletter.authoring.lint import check_issue
from newsletter.db import migrate, tables
from newsletter.db.engine import make_engine
from newsletter.errors import SendError
from tests.support.sending import SECRET, run_cli
from tests.support.web_server import ISSUE, outbox_mails, post_form


def test_the_issue_language_wins_then_the_lists_shared_one_then_the_setting():
    assert i18n.send_language("de", ["fr", "fr"], "en") == "de"
    assert i18n.send_language("", ["fr", "fr"], "en") == "fr"
    assert i18n.send_language("", ["", ""], "vi") == "vi"
    assert i18n.send_language("", [], "es") == "es"
    assert i18n.send_language("de", ["fr", "es"], "en") == "de"  # named: lists may differ
    with pytest.raises(ValueError, match=r"different languages \(en, fr\).*language: \.\.\."):
        i18n.send_language("", ["fr", ""], "en")  # a list without one speaks the setting's


def _mail(web, to: str):  # type: ignore[no-untyped-def]
    return outbox_mails(web, to)[-1]


def _link(mail, kind: str) -> str:  # type: ignore[no-untyped-def]
    found = re.search(rf"https?://\S+/{kind}/[\w.-]+", mail.get_body(("plain",)).get_content())
    assert found, kind
    return urlsplit(found.group(0)).path


def test_a_send_to_a_french_list_is_french_and_its_pages_keep_the_send_language(web):
    update_list(web.engine, "news", language="fr")
    web.member("ann@example.org", "Ann")
    web.send_issue()
    mail = _mail(web, "ann@example.org")
    assert "Se désabonner" in mail.get_body(("html",)).get_content()
    assert "Se désabonner :" in mail.get_body(("plain",)).get_content()
    with web.engine.connect() as conn:
        options = conn.execute(select(tables.sends.c.options)).scalar_one()
    assert options["language"] == "fr"
    update_list(web.engine, "news", language="de")  # later: the page still speaks the send's
    page = web.client.get(_link(mail, "unsubscribe")).get_data(as_text=True)
    assert '<html lang="fr" dir="ltr">' in page and "Se désabonner de The News ?" in page
    # A preferences token names no send: the list's language, as it is now.
    page = web.client.get(_link(mail, "preferences")).get_data(as_text=True)
    assert '<html lang="de"' in page and "Ihre Abonnements" in page


def test_the_issue_front_matter_language_overrides_the_lists(web):
    update_list(web.engine, "news", language="fr")
    web.member("ann@example.org")
    web.send_issue(ISSUE.replace("lists: [news]", "lists: [news]\nlanguage: vi"))
    html = _mail(web, "ann@example.org").get_body(("html",)).get_content()
    assert '<html lang="vi"' in html and "Hủy đăng ký" in html


def test_lists_with_different_languages_are_refused_by_send_and_an_error_of_check(
    web, database_url
):
    update_list(web.engine, "news", language="fr")
    create_list(web.engine, "weekly", "Weekly", language="de")
    issue = ISSUE.replace("lists: [news]", "lists: [news, weekly]")
    with pytest.raises(SendError, match=r"different languages \(de, fr\)"):
        web.send_issue(issue)
    path = web.workdir / "issues" / "2026-01-01-test.md"
    env = {"DATABASE_URL": database_url, "NEWSLETTER_SECRET_KEY": SECRET}
    run = run_cli("check", str(path), env=env, cwd=web.workdir)
    assert run.returncode == 1
    assert f"{path}:5: error: the lists of this issue have different languages (de, fr)" in (
        run.stdout
    )
    path.write_text(issue.replace("lists: [news, weekly]", "lists: [news, weekly]\nlanguage: fr"))
    run = run_cli("check", str(path), env=env, cwd=web.workdir)
    assert run.returncode == 0, run.stdout
    web.member("ann@example.org")
    web.send_issue(path.read_text())
    assert "Se désabonner" in _mail(web, "ann@example.org").get_body(("html",)).get_content()


def test_check_warns_when_the_issue_language_has_no_catalogue(tmp_path):
    from newsletter.config import Settings

    settings = Settings(templates_dir=str(tmp_path / "none"))
    path = tmp_path / "2026-01-01-x.md"
    path.write_text("---\ntitle: X\nlanguage: pt-BR\n---\nIntro.\n", encoding="utf-8")
    found = [p for p in check_issue(path, settings) if "language" in p.message]
    assert [(p.line, p.severity) for p in found] == [(3, "warning")]
    assert "language 'pt-BR' has no catalogue (shipped: de, en, es, fr, vi)" in found[0].message
    path.write_text("---\ntitle: X\nlanguage: fr-CA\n---\nIntro.\n", encoding="utf-8")
    assert [p for p in check_issue(path, settings) if "language" in p.message] == []  # fr
    path.write_text("---\ntitle: X\nlanguage: klingon\n---\nIntro.\n", encoding="utf-8")
    found = [p for p in check_issue(path, settings) if "language" in p.message]
    assert [(p.line, p.severity) for p in found] == [(3, "error")]
    assert "'language' 'klingon' is not a language: write a code like fr" in found[0].message


def test_lists_create_and_update_take_a_language(database_url, workdir):
    env = {"DATABASE_URL": database_url, "NEWSLETTER_SECRET_KEY": SECRET}
    made = run_cli("lists", "create", "nouvelles", "--name", "Nouvelles", "--language", "fr",
                   env=env, cwd=workdir)  # fmt: skip
    assert made.returncode == 0 and "in fr" in made.stdout, made.stderr
    changed = run_cli("lists", "update", "nouvelles", "--language", "pt_br", env=env, cwd=workdir)
    assert changed.returncode == 0 and "in pt-BR" in changed.stdout, changed.stderr
    shown = run_cli("lists", env=env, cwd=workdir)
    assert "[pt-BR]" in shown.stdout
    bad = run_cli("lists", "update", "nouvelles", "--language", "xx-nope", env=env, cwd=workdir)
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    assert bad.stderr.strip().splitlines() == [
        "error: list language 'xx-nope' is not a language: give a code like fr, de or pt-BR "
        "('' for the language setting's)"
    ]
    cleared = run_cli("lists", "update", "nouvelles", "--language", "", env=env, cwd=workdir)
    assert "in the language setting's" in cleared.stdout
    engine = make_engine(database_url)
    assert get_list(engine, "nouvelles")["language"] == ""
    engine.dispose()


def test_a_token_that_does_not_verify_gets_the_neutral_404_in_accept_language(web):
    update_list(web.engine, "news", language="fr")
    ann = web.member("ann@example.org")
    good = web.token("unsubscribe", ann["id"])
    answers = []
    for token in (good[:-3] + "AAA", "garbage", good + "x"):
        response = web.client.get(f"/unsubscribe/{token}", headers={"Accept-Language": "de"})
        assert response.status_code == 404
        assert "Accept-Language" in response.headers["Vary"]
        answers.append(response.get_data(as_text=True))
    assert answers[0] == answers[1] == answers[2]  # the list's language reveals nothing
    assert '<html lang="de"' in answers[0] and "Seite nicht gefunden" in answers[0]
    post = web.client.post(f"/unsubscribe/{good}x", data={"List-Unsubscribe": "One-Click"})
    assert post.status_code == 404 and '<html lang="en"' in post.get_data(as_text=True)


def test_pages_of_nobody_in_particular_follow_accept_language_among_shipped_ones(web):
    cases = {"fr-CH, de;q=0.8": "fr", "ja, de;q=0.5": "de", "ja": "en", "": "en"}
    for header, lang in cases.items():
        for path in ("/subscribe", "/archive", "/"):
            response = web.client.get(path, headers={"Accept-Language": header})
            assert f'<html lang="{lang}"' in response.get_data(as_text=True), (header, path)
            assert "Accept-Language" in response.headers.get("Vary", ""), path
    update_list(web.engine, "news", language="es")
    own = web.client.get("/subscribe/news", headers={"Accept-Language": "fr"})
    page = own.get_data(as_text=True)
    assert '<html lang="es"' in page and "Suscribirse a The News" in page
    assert "Accept-Language" not in own.headers.get("Vary", "")  # the list's, whoever asks


def test_the_confirmation_mail_and_pages_speak_the_list_language(web):
    update_list(web.engine, "news", language="de")
    post_form(web.client, {"email": "neu@example.org"}, "/subscribe/news")
    mail = _mail(web, "neu@example.org")
    assert str(mail["Subject"]) == "Bitte bestätigen Sie Ihre Anmeldung zu The News"
    assert mail.get_body(("plain",)).get_content().splitlines()[0] == "Guten Tag,"
    page = web.client.get(_link(mail, "confirm"), headers={"Accept-Language": "fr"})
    assert "Bitte bestätigen Sie Ihre Anmeldung" in page.get_data(as_text=True)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
@pytest.mark.postgres
def test_the_one_click_post_stays_one_statement(web, monkeypatch):
    """The hot path reads no language: no lookup of the send or the list. Statements are
    counted both through SQLAlchemy and on the driver's own cursor (`db.driver_sql`)."""
    from newsletter.db import driver_sql

    update_list(web.engine, "news", language="fr")
    ann = web.member("ann@example.org")
    web.send_issue()
    token = _link(_mail(web, "ann@example.org"), "unsubscribe").rsplit("/", 1)[1]
    seen: list[str] = []

    def count(_conn, _cursor, statement, *_rest):  # type: ignore[no-untyped-def]
        seen.append(statement)

    run = driver_sql.Sql.run

    def counted_run(self, conn, **given):  # type: ignore[no-untyped-def]
        seen.append(self.text)
        return run(self, conn, **given)

    monkeypatch.setattr(driver_sql.Sql, "run", counted_run)
    event.listen(web.engine, "before_cursor_execute", count)
    try:
        response = web.client.post(f"/unsubscribe/{token}", data={"List-Unsubscribe": "One-Click"})
    finally:
        event.remove(web.engine, "before_cursor_execute", count)
    assert response.status_code == 200 and web.status(ann["id"]) == "unsubscribed"
    assert len(seen) == 1 and "sends" not in seen[0], seen


def test_a_0010_database_upgrades_in_place_and_its_lists_keep_the_setting_language(
    database_url, workdir
):
    engine = make_engine(database_url, upgrade=False)
    migrate.upgrade(engine, "0010")
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO lists (slug, name, description, from_name, from_address, reply_to,"
                 " created_at, private) VALUES ('old', 'Old', '', '', '', '', :now, false)"),
            {"now": "2026-01-01 00:00:00"},
        )  # fmt: skip
    assert migrate.upgrade(engine).after == migrate.HEAD  # 0012, wherever the lead chains it
    old = get_list(engine, "old")
    assert old["language"] == "" and old["name"] == "Old"
    update_list(engine, "old", language="vi")
    assert get_list(engine, "old")["language"] == "vi"
    engine.dispose()


def test_a_language_setting_that_is_no_language_code_is_one_clear_error(workdir):
    bad = run_cli("config", env={"NEWSLETTER_LANGUAGE": "français"}, cwd=workdir)
    assert bad.returncode == 1 and bad.stderr.strip().splitlines() == [
        "error: env NEWSLETTER_LANGUAGE: language must be a language code like en, fr or pt-BR"
    ]
    good = run_cli("config", env={"NEWSLETTER_LANGUAGE": "pt-BR"}, cwd=workdir)
    assert good.returncode == 0 and "pt-BR" in good.stdout


def test_send_says_which_language_it_renders_in(database_url, workdir, issue_path):
    env = {"DATABASE_URL": database_url, "NEWSLETTER_SECRET_KEY": SECRET}
    run_cli(
        "lists", "create", "newsletter", "--name", "N", "--language", "vi", env=env, cwd=workdir
    )
    run_cli("subscribers", "add", "ann@example.org", "--list", "newsletter", env=env, cwd=workdir)
    dry = run_cli("send", str(issue_path), "--dry-run", env=env, cwd=workdir)
    assert dry.returncode == 0, dry.stderr
    assert "to 1 recipient(s) of newsletter via outbox, in vi" in dry.stdout
