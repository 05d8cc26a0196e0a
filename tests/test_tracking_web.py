"""The click redirect and the open pixel in the app, on both databases, with messages really
sent through the outbox: each verdict with its reason, forged tokens, opt-out, `forget`,
unsubscribes through an issue, and SendGrid's own open and click events."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import func, select

from newsletter.audience.suppressions import forget
from newsletter.db import tables
from tests.support.tracking import (
    APPLE_PROXY,
    BROWSER,
    GMAIL_PROXY,
    LINKS,
    SCANNER,
    link_id,
    send_tracked,
    stored_hits,
)

PEOPLE = ["ann@example.org", "bob@example.org", "cy@example.org"]


@pytest.fixture
def mails(web):  # type: ignore[no-untyped-def]
    return send_tracked(web, PEOPLE)


def get(web, url: str, agent: str = BROWSER, **headers: str):  # type: ignore[no-untyped-def]
    path = url.split("8000", 1)[1]
    return web.client.get(path, headers={"User-Agent": agent, **headers})


def test_a_lone_browser_click_redirects_and_counts_as_a_human(web, mails):
    ann = mails["ann@example.org"]
    answer = get(web, ann.clicks[LINKS[1]])
    assert answer.status_code == 302
    assert answer.headers["Location"] == LINKS[1]
    assert answer.headers["Cache-Control"] == "no-store"
    assert answer.headers["Referrer-Policy"] == "no-referrer"  # the token never leaks onward
    assert stored_hits(web.engine) == [
        (ann.subscriber_id, link_id(ann.clicks[LINKS[1]]), "human", "human", 1)
    ]
    get(web, ann.clicks[LINKS[1]])  # the same link again: one row, counted twice
    assert stored_hits(web.engine)[0][-1] == 2


def test_an_unknown_link_is_404_and_the_target_never_comes_from_the_url(web, mails):
    ann = mails["ann@example.org"]
    token = ann.pixel.rsplit("/", 1)[1][: -len(".gif")]
    for path in (f"/c/999999/{token}", f"/c/0/{token}", f"/c/{2**70}/{token}", "/c/x/y"):
        assert web.client.get(path).status_code == 404, path
    first = link_id(ann.clicks[LINKS[0]])
    answer = web.client.get(f"/c/{first}/{token}?url=https://evil.example")
    assert answer.headers["Location"] == LINKS[0]
    assert stored_hits(web.engine) == [(ann.subscriber_id, first, "human", "human", 1)]


def test_a_forged_token_still_redirects_and_counts_nothing(web, mails):
    url = mails["ann@example.org"].clicks[LINKS[0]]
    token = url.rsplit("/", 1)[1]
    forged = [
        "0" * 32,
        token[:-1] + ("0" if token[-1] != "0" else "1"),  # one digit changed
        "not-a-token",
        "-",  # what a proof (test-send) carries
    ]
    for bad in forged:
        answer = get(web, url.rsplit("/", 1)[0] + "/" + bad)
        assert (answer.status_code, answer.headers["Location"]) == (302, LINKS[0])
        assert get(web, f"http://127.0.0.1:8000/o/{bad}.gif").status_code == 200
    assert stored_hits(web.engine) == []


def test_a_token_of_another_send_counts_nothing_on_this_sends_links(web, mails):
    from tests.support.tracking import TRACKED_ISSUE

    web.send_issue(TRACKED_ISSUE, name="2026-02-08-next")
    first = mails["ann@example.org"].clicks[LINKS[0]]
    with web.engine.connect() as conn:
        links = tables.tracked_links
        newest = select(func.max(links.c.send_id)).scalar_subquery()
        other = conn.execute(
            select(links.c.id).where(links.c.kind == "link", links.c.send_id == newest).limit(1)
        ).scalar()
    answer = get(web, first.replace(f"/c/{link_id(first)}/", f"/c/{other}/"))
    assert answer.status_code == 302 and stored_hits(web.engine) == []


def test_a_head_request_is_a_machine(web, mails):
    bob = mails["bob@example.org"]
    path = bob.clicks[LINKS[2]].split("8000", 1)[1]
    answer = web.client.head(path, headers={"User-Agent": BROWSER})
    assert answer.status_code == 302 and answer.headers["Location"] == LINKS[2]
    assert stored_hits(web.engine) == [
        (bob.subscriber_id, link_id(bob.clicks[LINKS[2]]), "machine", "machine:head", 1)
    ]


def test_a_scanner_agent_is_a_machine(web, mails):
    cy = mails["cy@example.org"]
    assert get(web, cy.clicks[LINKS[3]], agent=SCANNER).status_code == 302
    assert stored_hits(web.engine) == [
        (cy.subscriber_id, link_id(cy.clicks[LINKS[3]]), "machine", "machine:agent", 1)
    ]


def test_a_burst_of_distinct_links_is_a_machine_earlier_clicks_included(web, mails):
    ann, bob = mails["ann@example.org"], mails["bob@example.org"]
    get(web, bob.clicks[LINKS[0]])  # another reader, same moment: not part of ann's burst
    for url in list(ann.clicks.values())[:3]:
        assert get(web, url).status_code == 302
    rows = [r for r in stored_hits(web.engine) if r[0] == ann.subscriber_id]
    assert rows == sorted(
        (ann.subscriber_id, link_id(url), "machine", "machine:burst", 1)
        for url in list(ann.clicks.values())[:3]
    )
    assert [r for r in stored_hits(web.engine) if r[0] == bob.subscriber_id][0][2] == "human"


def test_the_trap_link_marks_the_recipients_hits_around_it_as_machine(web, mails):
    ann, bob = mails["ann@example.org"], mails["bob@example.org"]
    get(web, ann.pixel)  # the scanner fetched the image ...
    get(web, ann.clicks[LINKS[0]])  # ... and a link: human, as far as anyone knew
    get(web, bob.clicks[LINKS[0]])
    answer = get(web, ann.trap)
    assert answer.status_code == 302 and answer.headers["Location"].endswith(
        "/archive/2026-02-01-tracked"
    )
    get(web, ann.clicks[LINKS[3]])  # after the trap, within the window
    trap = link_id(ann.trap)
    assert [r for r in stored_hits(web.engine) if r[0] == ann.subscriber_id] == sorted(
        [
            (ann.subscriber_id, 0, "machine", "machine:trap", 1),
            (ann.subscriber_id, link_id(ann.clicks[LINKS[0]]), "machine", "machine:trap", 1),
            (ann.subscriber_id, link_id(ann.clicks[LINKS[3]]), "machine", "machine:trap", 1),
            (ann.subscriber_id, trap, "machine", "machine:trap", 1),
        ]
    )
    assert [r[2] for r in stored_hits(web.engine) if r[0] == bob.subscriber_id] == ["human"]


def test_apple_proxy_opens_are_machines_and_gmail_proxy_opens_human(web, mails):
    ann, bob = mails["ann@example.org"], mails["bob@example.org"]
    answer = get(web, ann.pixel, agent=APPLE_PROXY)
    assert answer.status_code == 200
    get(web, bob.pixel, agent=GMAIL_PROXY)
    assert stored_hits(web.engine) == [
        (ann.subscriber_id, 0, "machine", "machine:apple-proxy", 1),
        (bob.subscriber_id, 0, "human", "human:gmail-proxy", 1),
    ]


def test_the_pixel_is_a_transparent_one_by_one_gif_never_cached(web, mails):
    answer = get(web, mails["ann@example.org"].pixel)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "image/gif"
    assert answer.headers["Cache-Control"] == "no-store"
    gif = answer.data
    assert gif.startswith(b"GIF89a") and gif[6:10] == b"\x01\x00\x01\x00"  # 1 x 1
    assert b"!\xf9\x04\x01" in gif  # graphic control extension with the transparency flag


def test_an_opted_out_subscriber_is_never_recorded(web, mails):
    ann, bob = mails["ann@example.org"], mails["bob@example.org"]
    get(web, ann.clicks[LINKS[0]])
    prefs = web.token("preferences", ann.subscriber_id)
    page = web.client.get(f"/preferences/{prefs}").get_data(as_text=True)
    assert (
        "Don&#39;t track my opens and clicks" in page or "Don't track my opens and clicks" in page
    )
    saved = web.client.post(
        f"/preferences/{prefs}", data={"action": "tracking", "no_tracking": "1"}
    )
    assert saved.status_code == 200 and "deleted what we had recorded" in saved.get_data(True)
    assert 'name="no_tracking" value="1" checked' in saved.get_data(as_text=True)
    assert stored_hits(web.engine) == []  # what was recorded is gone too
    for url in (ann.clicks[LINKS[1]], ann.trap):
        assert get(web, url).status_code == 302
    assert get(web, ann.pixel).status_code == 200
    web.client.head(ann.clicks[LINKS[2]].split("8000", 1)[1])
    get(web, bob.clicks[LINKS[1]])
    assert [r[0] for r in stored_hits(web.engine)] == [bob.subscriber_id]
    web.client.post(f"/preferences/{prefs}", data={"action": "tracking"})  # allowed again
    get(web, ann.clicks[LINKS[1]])
    assert sorted(r[0] for r in stored_hits(web.engine)) == [ann.subscriber_id, bob.subscriber_id]


def test_forget_erases_the_hits(web, mails):
    ann, bob = mails["ann@example.org"], mails["bob@example.org"]
    for mail in (ann, bob):
        get(web, mail.pixel)
        get(web, mail.clicks[LINKS[0]])
    get(web, ann.trap)  # a judging-version row on PostgreSQL too
    assert forget(web.engine, "ann@example.org")
    assert {r[0] for r in stored_hits(web.engine)} == {bob.subscriber_id}
    with web.engine.connect() as conn:
        for table in (tables.tracking_recipients, tables.tracking_optouts):
            left = conn.execute(
                select(func.count()).where(table.c.subscriber_id == ann.subscriber_id)
            ).scalar()
            assert left == 0, table.name
    assert get(web, ann.clicks[LINKS[0]]).status_code == 302  # the link still works
    assert {r[0] for r in stored_hits(web.engine)} == {bob.subscriber_id}


def test_unsubscribes_through_the_issues_links_name_the_send_and_old_links_still_work(web, mails):
    from newsletter.db.connection import reading
    from newsletter.tracking.unsubscribes import unsubscribed_through

    ann, bob, cy = (mails[e] for e in PEOPLE)
    one_click = web.client.post(
        ann.unsubscribe.split("8000", 1)[1], data={"List-Unsubscribe": "One-Click"}
    )
    assert one_click.status_code == 200
    page = web.client.post(bob.unsubscribe.split("8000", 1)[1], data={"action": "unsubscribe"})
    assert page.status_code == 200
    old = web.token("unsubscribe", cy.subscriber_id)  # a link mailed before sends carried one
    assert (
        web.client.post(f"/unsubscribe/{old}", data={"List-Unsubscribe": "One-Click"}).status_code
        == 200
    )
    assert web.status(cy.subscriber_id) == "unsubscribed"
    with reading(web.engine) as conn:
        send_id = conn.execute(select(func.max(tables.sends.c.id))).scalar()
        assert unsubscribed_through(conn, [send_id]) == {send_id: 2}
    sources = [s[3] for s in web.suppressions()]
    assert sources == [
        f"web:one-click via send {send_id}",
        f"web:unsubscribe-page via send {send_id}",
        "web:one-click",
    ]


def test_sendgrid_open_and_click_events_go_through_the_same_judging(web, mails, signed_hook):
    ann, bob = mails["ann@example.org"], mails["bob@example.org"]
    now = int(time.time())

    def event(kind: str, who, **extra):  # type: ignore[no-untyped-def]
        return {
            "event": kind,
            "email": "x@example.org",
            "timestamp": now,
            "send_ref": "send-1",
            "subscriber_id": str(who.subscriber_id),
            **extra,
        }

    answer = signed_hook(
        [
            event("open", ann, sg_machine_open=True, useragent=BROWSER),
            event("open", bob, sg_machine_open=False, useragent=BROWSER),
            event("click", bob, url=LINKS[3], useragent=SCANNER),
            event("click", ann, url=ann.clicks[LINKS[0]], useragent=BROWSER),  # ours: counted there
        ]
    )
    assert answer.status_code == 200 and answer.get_json()["applied"] == 3
    assert stored_hits(web.engine) == [
        (ann.subscriber_id, 0, "machine", "machine:apple-proxy", 1),
        (bob.subscriber_id, 0, "human", "human", 1),
        (bob.subscriber_id, link_id(bob.clicks[LINKS[3]]), "machine", "machine:agent", 1),
    ]
