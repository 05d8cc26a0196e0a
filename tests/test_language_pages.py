"""Every page a subscriber can reach, and the confirmation mail, in each shipped language: no
catalogue string left in English (`test_languages.english_left`), `lang` and `dir` on the page."""

from __future__ import annotations

import re

import pytest

from newsletter import i18n
from newsletter.audience.list_edits import update_list
from newsletter.models import PROOF_TOKEN
from tests.support.catalogues import english_left
from tests.support.web_server import confirm_path, outbox_mails, post_form

OWN = "The News Newsletter"  # the list's and the site's names, quoted by the pages


def _pages(web, lang: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """Each page (and state) by name, the list and the reader in `lang`."""
    client, reader = web.client, {"Accept-Language": lang}
    update_list(web.engine, "news", language=lang)
    ann = web.member(f"ann.{lang}@example.org", "Ann")
    unsub, prefs = web.token("unsubscribe", ann["id"]), web.token("preferences", ann["id"])
    new = {"email": f"new.{lang}@example.org"}
    pages = {
        "front": client.get("/", headers=reader),
        "subscribe (bare)": client.get("/subscribe", headers=reader),
        "subscribe": client.get("/subscribe/news"),
        "subscribe error": client.post("/subscribe/news", data={"email": "not an address"}),
        "subscribe sent": post_form(client, new, "/subscribe/news"),
        "unsubscribe": client.get(f"/unsubscribe/{unsub}"),
        "preferences": client.get(f"/preferences/{prefs}"),
        "preferences saved": client.post(f"/preferences/{prefs}", data={"list": []}),
        "unsubscribed": client.post(f"/unsubscribe/{unsub}", data={"action": "unsubscribe"}),
        "proof unsubscribe": client.get(f"/unsubscribe/{PROOF_TOKEN}", headers=reader),
        "proof preferences": client.get(f"/preferences/{PROOF_TOKEN}", headers=reader),
        "archive": client.get("/archive", headers=reader),
        "404": client.get("/unsubscribe/not-a-token", headers=reader),
        "405": client.put("/subscribe", headers=reader),
    }
    mail = outbox_mails(web, f"new.{lang}@example.org")[-1]
    pages["confirm"] = client.get(confirm_path(mail))
    pages["confirmed"] = client.post(confirm_path(mail))
    out = {name: response.get_data(as_text=True) for name, response in pages.items()}
    out["confirmation mail"] = mail.get_body(("html",)).get_content()
    out["confirmation mail (text)"] = mail.get_body(("plain",)).get_content()
    out["confirmation mail (subject)"] = str(mail["Subject"])
    return out


def test_every_page_is_in_english_by_default_so_the_check_can_fail(web):
    pages = _pages(web, "en")
    assert "Page not found" in pages["404"] and "Unsubscribe" in pages["unsubscribe"]
    left = set()
    for text in pages.values():
        left.update(english_left("en", text, OWN))
    assert {"Your subscriptions", "Check your inbox", "Page not found"} <= left


@pytest.mark.parametrize("lang", [lang for lang in i18n.SHIPPED if lang != "en"])
def test_every_page_and_the_confirmation_mail_speak_the_language(web, lang):
    pages = _pages(web, lang)
    for name, text in pages.items():
        assert english_left(lang, text, OWN) == [], (lang, name, text[:300])
        if not name.startswith("confirmation mail ("):
            assert re.search(rf'<html lang="{lang}" dir="ltr"', text), (lang, name)
