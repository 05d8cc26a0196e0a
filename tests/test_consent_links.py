"""A confirmation link is consent given when it was mailed: it never undoes an opt-out, a
suppression or an erasure that came after it, whoever or whatever opens it (a person, a link
scanner, a reopened old mail)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from newsletter.audience.subscribers import add_subscriber, get_subscriber
from newsletter.audience.suppressions import forget, suppress_address
from tests.support.subscriber_store import snapshot
from tests.support.web_server import confirm_path, post_form
from tests.support.web_server import outbox_mails as mails


def _link(web, email: str) -> str:  # type: ignore[no-untyped-def]
    post_form(web.client, {"email": email})
    *_, mail = mails(web, email)
    return confirm_path(mail)


def _opened_later(web, link: str) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    """Open the old link every way it can be opened; (GET status, POST status)."""
    page = web.client.get(link)
    assert web.client.head(link).status_code == page.status_code
    click = web.client.post(link)
    return page.status_code, click.status_code


def _days_pass(web, days: int) -> None:  # type: ignore[no-untyped-def]
    """Move every recorded event `days` into the past (as if they had happened then)."""
    from sqlalchemy import update

    from newsletter.db import tables

    e = tables.subscriber_events
    with web.engine.begin() as conn:
        for event_id, at in conn.execute(select(e.c.id, e.c.at)).all():
            conn.execute(update(e).where(e.c.id == event_id).values(at=at - timedelta(days=days)))


def test_an_old_link_never_undoes_a_later_unsubscribe(web):
    link = _link(web, "ann@example.org")
    assert web.client.post(link).status_code == 200
    ann = get_subscriber(web.engine, "ann@example.org")
    one_click = web.token("unsubscribe", ann["id"])
    web.client.post(f"/unsubscribe/{one_click}", data={"List-Unsubscribe": "One-Click"})
    before = snapshot(web.engine)
    assert _opened_later(web, link) == (409, 409)
    assert snapshot(web.engine) == before
    assert web.status(ann["id"]) == "unsubscribed"
    assert "no longer subscribes you" in web.client.post(link).get_data(as_text=True)


def test_an_old_link_never_undoes_unsubscribe_from_everything(web):
    link = _link(web, "ann@example.org")
    web.client.post(link)
    ann = get_subscriber(web.engine, "ann@example.org")
    prefs = web.token("preferences", ann["id"], 0)
    web.client.post(f"/preferences/{prefs}", data={"action": "unsubscribe-all"})
    before = snapshot(web.engine)
    assert _opened_later(web, link) == (409, 409)
    assert snapshot(web.engine) == before
    assert [(s[1], s[2]) for s in web.suppressions()] == [(0, "unsubscribed")]


@pytest.mark.parametrize("reason", ["unsubscribed", "bounced", "complained", "manual"])
def test_an_unused_link_never_lifts_a_suppression_that_came_after_it(web, reason):
    link = _link(web, "ann@example.org")  # never clicked: the person is unconfirmed
    ann = get_subscriber(web.engine, "ann@example.org")
    suppress_address(web.engine, "ann@example.org", reason, source="sendgrid")
    before = snapshot(web.engine)
    assert _opened_later(web, link) == (409, 409)
    assert snapshot(web.engine) == before
    assert web.status(ann["id"]) == "unsubscribed"


def test_an_old_link_never_undoes_an_erasure(web):
    link = _link(web, "ann@example.org")
    forget(web.engine, "ann@example.org")
    assert _opened_later(web, link) == (404, 404)
    # Even once the same address is back (an operator re-adds it with new consent), the old
    # link names the erased subscriber's id, which is never handed out again.
    again = add_subscriber(
        web.engine,
        "ann@example.org",
        "news",
        status="unconfirmed",
        source="test",
        resubscribe_reason="asked by phone",
    )
    before = snapshot(web.engine)
    assert _opened_later(web, link) == (404, 404)
    assert snapshot(web.engine) == before
    assert web.status(again["id"]) == "unconfirmed"


def test_a_link_mailed_after_leaving_brings_the_person_back(web):
    link = _link(web, "ann@example.org")
    web.client.post(link)
    ann = get_subscriber(web.engine, "ann@example.org")
    one_click = web.token("unsubscribe", ann["id"])
    web.client.post(f"/unsubscribe/{one_click}", data={"List-Unsubscribe": "One-Click"})
    _days_pass(web, 2)  # days later (one confirmation mail a day after leaving), she is back
    new_link = _link(web, "ann@example.org")
    assert new_link != link
    page = web.client.get(new_link)
    assert page.status_code == 200 and "Yes, subscribe me" in page.get_data(as_text=True)
    assert web.client.post(new_link).status_code == 200
    assert web.status(ann["id"]) == "subscribed" and web.suppressions() == []
    assert web.client.post(link).status_code == 200  # the oldest link: already subscribed
