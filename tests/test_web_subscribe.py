"""Double opt-in through the outbox, no address enumeration, rate limits; preferences."""

from __future__ import annotations

import re
from email import policy
from email.parser import BytesParser
from pathlib import Path

from newsletter.audience.history import history
from newsletter.audience.lists import create_list
from newsletter.audience.subscribers import get_subscriber
from newsletter.audience.unsubscribe import unsubscribe
from tests.support.subscriber_store import snapshot
from tests.support.waiting import wait_until
from tests.support.web_server import confirm_path, post_form
from tests.support.web_server import outbox_mails as mails


def test_double_opt_in_through_the_outbox(web):
    response = post_form(web.client, {"name": "Ann", "email": "ann@example.org"})
    assert response.status_code == 200 and "Check your inbox" in response.get_data(as_text=True)
    ann = get_subscriber(web.engine, "ann@example.org")
    assert ann["name"] == "Ann" and web.status(ann["id"]) == "unconfirmed"
    [mail] = mails(web, "ann@example.org")
    assert "confirm" in mail["Subject"].lower() and "The News" in mail["Subject"]
    page = web.client.get(confirm_path(mail))
    assert page.status_code == 200 and "Yes, subscribe me" in page.get_data(as_text=True)
    assert web.status(ann["id"]) == "unconfirmed"  # the page alone changes nothing
    confirmed = web.client.post(confirm_path(mail))
    assert confirmed.status_code == 200
    assert "Subscription confirmed" in confirmed.get_data(as_text=True)
    assert web.status(ann["id"]) == "subscribed"


def test_a_second_click_changes_nothing_and_says_already_confirmed(web):
    post_form(web.client, {"email": "ann@example.org"})
    [mail] = mails(web, "ann@example.org")
    web.client.post(confirm_path(mail))
    before = snapshot(web.engine)
    for again in (web.client.post(confirm_path(mail)), web.client.get(confirm_path(mail))):
        assert again.status_code == 200
        assert "Already confirmed" in again.get_data(as_text=True)
    assert snapshot(web.engine) == before


def test_head_and_get_never_change_a_subscription(web):
    post_form(web.client, {"email": "ann@example.org"})
    ann = get_subscriber(web.engine, "ann@example.org")
    [mail] = mails(web, "ann@example.org")
    before = snapshot(web.engine)
    assert web.client.head(confirm_path(mail)).status_code == 200
    assert web.client.get(confirm_path(mail)).status_code == 200
    assert snapshot(web.engine) == before
    assert web.status(ann["id"]) == "unconfirmed"


def test_a_form_post_never_changes_a_known_subscriber(web):
    """A stranger types a known address with a name of their choosing: the subscriber's data
    stays as it was, before and after the owner confirms."""
    create_list(web.engine, "daily", "The Daily")
    ann = web.member("ann@example.org", name="Ann Smith")
    before = get_subscriber(web.engine, ann["id"])
    post_form(web.client, {"name": "Mallory was here", "email": "ANN@example.org"}, "/subscribe")
    post_form(web.client, {"name": "Mallory", "email": "ann@example.org"}, "/subscribe/daily")
    assert get_subscriber(web.engine, ann["id"]) == before
    [mail] = mails(web, "ann@example.org")  # only for daily: she is on news already
    assert web.client.post(confirm_path(mail)).status_code == 200
    assert web.status(ann["id"], get_list_id(web, "daily")) == "subscribed"
    assert get_subscriber(web.engine, ann["id"]) == before  # name, timestamps: all as they were


def get_list_id(web, slug: str) -> int:  # type: ignore[no-untyped-def]
    from newsletter.audience.lists import get_list

    return int(get_list(web.engine, slug)["id"])


def test_a_second_post_never_renames_an_unconfirmed_subscriber(web):
    post_form(web.client, {"name": "Bea", "email": "bea@example.org"})
    first = get_subscriber(web.engine, "bea@example.org")
    post_form(web.client, {"name": "Somebody Else", "email": "bea@example.org"})
    assert get_subscriber(web.engine, "bea@example.org") == first


def test_the_confirmation_mail_carries_nothing_the_requester_typed(web):
    typed = "__NL_EMAIL__ Win now at https://evil.example/x __NL_UNSUBSCRIBE_URL__"
    post_form(web.client, {"name": typed + "\r\nBcc: x@evil.example", "email": "ann@example.org"})
    [path] = (Path(web.settings.outbox_dir) / "new").glob("*.eml")
    raw = path.read_bytes()
    msg = BytesParser(policy=policy.default).parsebytes(raw)
    assert str(msg["To"]) == "ann@example.org"  # a bare address: no typed display name
    parts = [p.get_content() for p in msg.walk() if p.get_content_maintype() == "text"]
    for content in [raw.decode("ascii", "replace"), *parts]:
        for piece in ("evil", "Win now", "__NL_", "Bcc"):
            assert piece not in content
    assert all(p.lstrip().startswith(("Hello,", "<!doctype")) for p in parts)
    assert parts[0].startswith("Hello,\r\n")  # the neutral greeting, no name


def test_an_unconfirmed_address_never_receives_an_issue(web):
    web.member("bob@example.org")
    post_form(web.client, {"email": "ann@example.org"})
    web.send_issue()
    issue_mails = [
        m for m in mails(web, "ann@example.org") if m["X-Newsletter-Send"].startswith("send-")
    ]
    assert issue_mails == []
    assert any(m["X-Newsletter-Send"].startswith("send-") for m in mails(web, "bob@example.org"))


def test_same_answer_for_every_kind_of_address(web):
    from newsletter.audience.suppressions import suppress_address

    web.member("known@example.org")
    left = web.member("left@example.org")
    unsubscribe(web.engine, left["id"], web.list["id"], source="test")
    suppress_address(web.engine, "bounced@example.org", "bounced", source="test")
    suppress_address(web.engine, "complained@example.org", "complained", source="test")
    kinds = ("new", "known", "left", "bounced", "complained")
    answers = {post_form(web.client, {"email": f"{k}@example.org"}).get_data() for k in kinds}
    assert len(answers) == 1
    assert mails(web, "known@example.org") == []  # already subscribed: nothing to confirm


def test_the_answer_is_sent_before_anything_about_the_address_is_done(web):
    """Timing tells nothing: no lookup, no write and no mail until the answer has gone (the
    WSGI server closes the response after sending it)."""
    web.member("known@example.org", name="Known")
    left = web.member("left@example.org")
    unsubscribe(web.engine, left["id"], web.list["id"], source="test")
    for email in ("new@example.org", "left@example.org"):
        before = snapshot(web.engine)
        response = web.client.post("/subscribe", data={"email": email})
        assert '<h1 role="status">Check your inbox</h1>' in response.get_data(as_text=True)
        assert snapshot(web.engine) == before and mails(web, email) == []
        response.close()
        assert snapshot(web.engine) != before and len(mails(web, email)) == 1


def test_no_confirmation_mail_to_a_bounced_or_complained_address(web):
    from newsletter.audience.suppressions import suppress_address

    ann = web.member("ann@example.org")
    suppress_address(web.engine, "ann@example.org", "bounced", source="sendgrid:bounce")
    suppress_address(web.engine, "cat@example.org", "complained", source="sendgrid:spamreport")
    before = snapshot(web.engine)
    for email in ("ann@example.org", "cat@example.org"):
        post_form(web.client, {"email": email})
        assert mails(web, email) == []
    assert snapshot(web.engine) == before  # not even an unconfirmed row for the stranger
    assert web.status(ann["id"]) == "unsubscribed"


def test_someone_who_left_may_come_back_with_one_mail_a_day(web):
    import time

    ann = web.member("ann@example.org")
    unsubscribe(web.engine, ann["id"], web.list["id"], source="test")
    left = time.time_ns() // 1_000_000  # links carry their millisecond: issue it in a later one
    wait_until(lambda: time.time_ns() // 1_000_000 > left, what="the clock's next millisecond")
    for _ in range(3):
        assert post_form(web.client, {"email": "ann@example.org"}).status_code == 200
    assert web.status(ann["id"]) == "unsubscribed"  # the form alone lifts nothing
    [mail] = mails(web, "ann@example.org")  # one a day, however often the form is sent
    assert web.client.post(confirm_path(mail)).status_code == 200
    assert web.status(ann["id"]) == "subscribed"
    assert web.suppressions() == []


def test_a_new_address_is_not_flooded(web):
    for _ in range(6):
        assert post_form(web.client, {"email": "ann@example.org"}).status_code == 200
    assert len(mails(web, "ann@example.org")) == 3


def test_a_client_is_rate_limited(web):
    codes = [post_form(web.client, {"email": f"p{i}@example.org"}).status_code for i in range(12)]
    assert codes[:10] == [200] * 10 and codes[10:] == [429, 429]


def test_invalid_address_is_refused_with_the_form_again(web):
    response = post_form(web.client, {"email": "not an address<script>"})
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "valid email address" in page and "<script>" not in page


def test_per_list_form_and_unknown_list(web):
    create_list(web.engine, "daily", "The Daily")
    assert "The Daily" in web.client.get("/subscribe/daily").get_data(as_text=True)
    assert web.client.get("/subscribe/nope").status_code == 404


def test_a_failed_form_write_logs_neither_address_nor_name(web, caplog):
    from sqlalchemy import text

    cascade = " CASCADE" if web.engine.dialect.name == "postgresql" else ""
    with web.engine.begin() as conn:  # the database breaks after the page's list was read
        conn.execute(text(f"DROP TABLE subscribers{cascade}"))
    with caplog.at_level("DEBUG"):
        response = post_form(web.client, {"name": "Zelda Secretname", "email": "zelda@example.org"})
    assert response.status_code == 200  # answered before the database was touched
    [error] = [r for r in caplog.records if r.levelname == "ERROR"]
    # What failed, by kind and the database's error code: no table (SQLite, PostgreSQL).
    assert re.search(r"\((SQLITE_ERROR|42P01)\)$", error.getMessage())
    assert "zelda" not in caplog.text.lower() and "Secretname" not in caplog.text


def test_preferences_change_lists_and_unsubscribe_everything(web):
    daily = create_list(web.engine, "daily", "The Daily")
    ann = web.member("ann@example.org")
    web.member("ann@example.org", slug="daily")
    token = web.token("preferences", ann["id"], 0)
    page = web.client.get(f"/preferences/{token}").get_data(as_text=True)
    assert "The News" in page and "The Daily" in page
    saved = web.client.post(
        f"/preferences/{token}", data={"action": "save", "list": [str(daily["id"])]}
    )
    assert saved.status_code == 200
    assert web.status(ann["id"]) == "unsubscribed"
    assert web.status(ann["id"], daily["id"]) == "subscribed"
    web.client.post(
        f"/preferences/{token}",
        data={"action": "save", "list": [str(web.list["id"]), str(daily["id"])]},
    )
    assert web.status(ann["id"]) == "subscribed"
    web.client.post(f"/preferences/{token}", data={"action": "unsubscribe-all"})
    assert web.status(ann["id"]) == web.status(ann["id"], daily["id"]) == "unsubscribed"
    assert [(s[1], s[2]) for s in web.suppressions()] == [(0, "unsubscribed")]
    assert web.client.get(f"/preferences/{token}x").status_code == 404


def test_people_change_their_own_name_on_the_preferences_page(web):
    ann = web.member("ann@example.org", name="Ann")
    token = web.token("preferences", ann["id"], 0)
    assert 'value="Ann"' in web.client.get(f"/preferences/{token}").get_data(as_text=True)
    saved = web.client.post(
        f"/preferences/{token}",
        data={"action": "save", "name": " Ann\r\nLee ", "list": [str(web.list["id"])]},
    )
    assert saved.status_code == 200 and 'value="Ann Lee"' in saved.get_data(as_text=True)
    assert get_subscriber(web.engine, ann["id"])["name"] == "Ann Lee"
    assert web.status(ann["id"]) == "subscribed"
    assert [e["kind"] for e in history(web.engine, ann["id"])][-1] == "renamed"


def test_behind_a_trusted_proxy_clients_are_told_apart(web):
    import dataclasses

    from newsletter.web import create_app

    settings = dataclasses.replace(web.settings, web_trusted_proxies=1)
    client = create_app(settings, web.engine).test_client()

    def post(ip: str, i: int) -> int:
        return client.post(
            "/subscribe",
            data={"email": f"x{ip}{i}@example.org"},
            headers={"X-Forwarded-For": f"203.0.113.{ip}"},
        ).status_code

    assert [post("1", i) for i in range(11)][-1] == 429
    assert post("2", 0) == 200  # another client behind the same proxy is not blocked
