"""Double opt-in through the outbox, no address enumeration, rate limits; preferences."""

from __future__ import annotations

import re
from email import policy
from email.parser import BytesParser
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from newsletter.audience.lists import create_list
from newsletter.audience.subscribers import get_subscriber
from newsletter.audience.unsubscribe import unsubscribe
from newsletter.web import subscribe as subscribe_view


@pytest.fixture(autouse=True)
def fresh_client_limit(monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setattr(
        subscribe_view, "per_client", subscribe_view.RateLimiter(limit=10, window=600)
    )


def _mails(web, to: str) -> list:  # type: ignore[no-untyped-def]
    out = []
    for path in sorted((Path(web.settings.outbox_dir) / "new").glob("*.eml")):
        msg = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
        if msg["To"].addresses[0].addr_spec == to:
            out.append(msg)
    return out


def _confirm_path(msg) -> str:  # type: ignore[no-untyped-def]
    text = msg.get_body(("plain",)).get_content()
    url = re.search(r"https?://\S+/confirm/\S+", text).group(0)
    return urlsplit(url).path


def test_double_opt_in_through_the_outbox(web):
    response = web.client.post("/subscribe", data={"name": "Ann", "email": "ann@example.org"})
    assert response.status_code == 200 and "Check your inbox" in response.get_data(as_text=True)
    ann = get_subscriber(web.engine, "ann@example.org")
    assert web.status(ann["id"]) == "unconfirmed"
    [mail] = _mails(web, "ann@example.org")
    assert "confirm" in mail["Subject"].lower() and "The News" in mail["Subject"]
    confirmed = web.client.get(_confirm_path(mail))
    assert confirmed.status_code == 200 and "confirmed" in confirmed.get_data(as_text=True)
    assert web.status(ann["id"]) == "subscribed"
    assert web.client.get(_confirm_path(mail)).status_code == 200  # a second click is harmless


def test_an_unconfirmed_address_never_receives_an_issue(web):
    web.member("bob@example.org")
    web.client.post("/subscribe", data={"email": "ann@example.org"})
    web.send_issue()
    issue_mails = [
        m for m in _mails(web, "ann@example.org") if m["X-Newsletter-Send"].startswith("send-")
    ]
    assert issue_mails == []
    assert any(m["X-Newsletter-Send"].startswith("send-") for m in _mails(web, "bob@example.org"))


def test_same_answer_whether_or_not_the_address_is_known(web):
    web.member("known@example.org")
    ann = web.member("left@example.org")
    unsubscribe(web.engine, ann["id"], web.list["id"], source="test")
    pages = {
        web.client.post("/subscribe", data={"email": e}).get_data()
        for e in ("new@example.org", "known@example.org", "left@example.org")
    }
    assert len(pages) == 1
    assert _mails(web, "known@example.org") == []  # already subscribed: nothing to confirm


def test_resubscribing_after_leaving_needs_the_confirm_link(web):
    ann = web.member("ann@example.org")
    unsubscribe(web.engine, ann["id"], web.list["id"], source="test")
    web.client.post("/subscribe", data={"email": "ann@example.org"})
    assert web.status(ann["id"]) == "unsubscribed"  # the form alone lifts nothing
    [mail] = _mails(web, "ann@example.org")
    assert web.client.get(_confirm_path(mail)).status_code == 200
    assert web.status(ann["id"]) == "subscribed"


def test_an_address_is_not_flooded(web):
    for _ in range(6):
        assert web.client.post("/subscribe", data={"email": "ann@example.org"}).status_code == 200
    assert len(_mails(web, "ann@example.org")) == 3


def test_a_client_is_rate_limited(web):
    codes = [
        web.client.post("/subscribe", data={"email": f"p{i}@example.org"}).status_code
        for i in range(12)
    ]
    assert codes[:10] == [200] * 10 and codes[10:] == [429, 429]


def test_invalid_address_is_refused_with_the_form_again(web):
    response = web.client.post("/subscribe", data={"email": "not an address<script>"})
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "valid email address" in page and "<script>" not in page


def test_per_list_form_and_unknown_list(web):
    create_list(web.engine, "daily", "The Daily")
    assert "The Daily" in web.client.get("/subscribe/daily").get_data(as_text=True)
    assert web.client.get("/subscribe/nope").status_code == 404


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
