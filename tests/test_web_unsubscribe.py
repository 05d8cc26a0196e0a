"""Unsubscribe: RFC 8058 one-click POSTs, the GET page that never acts, resubscribe, headers."""

from __future__ import annotations

from email import policy
from email.parser import BytesParser
from pathlib import Path

import pytest

from newsletter.audience.history import history
from newsletter.audience.lists import create_list
from newsletter.audience.suppressions import suppress_address
from newsletter.audience.unsubscribe import unsubscribe

ONE_CLICK = "List-Unsubscribe=One-Click"


def _post_one_click(client, token: str, encoding: str):  # type: ignore[no-untyped-def]
    if encoding == "urlencoded":
        return client.post(
            f"/unsubscribe/{token}",
            data=ONE_CLICK,
            content_type="application/x-www-form-urlencoded",
        )
    boundary = "----mailprovider7MA4YWxkTrZu0gW"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="List-Unsubscribe"\r\n\r\n'
        f"One-Click\r\n--{boundary}--\r\n"
    )
    return client.post(
        f"/unsubscribe/{token}",
        data=body.encode(),
        content_type=f"multipart/form-data; boundary={boundary}",
    )


def _outbox_recipients(outbox: Path) -> set[str]:
    out = set()
    for path in (outbox / "new").glob("*.eml"):
        msg = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
        if msg["X-Newsletter-Send"] and msg["X-Newsletter-Send"].startswith("send-"):
            out.add(msg["To"].addresses[0].addr_spec)
    return out


@pytest.mark.parametrize("encoding", ["urlencoded", "multipart"])
def test_rfc8058_one_click_post_unsubscribes_and_next_send_skips(web, encoding):
    ann = web.member("ann@example.org", "Ann")
    web.member("bob@example.org", "Bob")
    web.client.delete_cookie("session")  # no cookies at all are involved
    response = _post_one_click(web.client, web.token("unsubscribe", ann["id"]), encoding)
    assert response.status_code == 200
    assert "Set-Cookie" not in response.headers and "Location" not in response.headers
    assert web.status(ann["id"]) == "unsubscribed"
    assert web.suppressions() == [
        ("ann@example.org", web.list["id"], "unsubscribed", "web:one-click")
    ]
    web.send_issue()
    assert _outbox_recipients(Path(web.settings.outbox_dir)) == {"bob@example.org"}


def test_get_shows_the_page_and_never_unsubscribes(web):
    ann = web.member("ann.smith@example.org")
    token = web.token("unsubscribe", ann["id"])
    for _ in range(3):  # a mail scanner may follow the link several times
        response = web.client.get(f"/unsubscribe/{token}")
        assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "The News" in page and "a********@example.org" in page
    assert "ann.smith@" not in page  # the address is shown masked
    assert '<form method="post">' in page and "<button" in page
    assert web.status(ann["id"]) == "subscribed" and web.suppressions() == []


def test_second_post_is_fine_and_changes_nothing_more(web):
    ann = web.member("ann@example.org")
    token = web.token("unsubscribe", ann["id"])
    first = _post_one_click(web.client, token, "urlencoded")
    second = _post_one_click(web.client, token, "urlencoded")
    assert first.status_code == second.status_code == 200
    assert len(web.suppressions()) == 1
    events = [e["kind"] for e in history(web.engine, ann["id"])]
    assert events.count("unsubscribed") == 1


def test_button_unsubscribes_then_resubscribe_restores_only_that_list(web):
    other = create_list(web.engine, "daily", "The Daily")
    ann = web.member("ann@example.org")
    web.member("ann@example.org", slug="daily")
    unsubscribe(web.engine, ann["id"], other["id"], source="test")
    token = web.token("unsubscribe", ann["id"])

    done = web.client.post(f"/unsubscribe/{token}", data={"action": "unsubscribe"})
    assert done.status_code == 200 and "You are unsubscribed" in done.get_data(as_text=True)
    assert "Resubscribe to The News" in done.get_data(as_text=True)
    assert web.status(ann["id"]) == "unsubscribed"
    assert web.suppressions()[-1][1:] == (web.list["id"], "unsubscribed", "web:unsubscribe-page")

    back = web.client.post(f"/unsubscribe/{token}", data={"action": "resubscribe"})
    assert back.status_code == 200 and "subscribed again" in back.get_data(as_text=True)
    assert web.status(ann["id"]) == "subscribed"
    assert web.status(ann["id"], other["id"]) == "unsubscribed"  # only that list came back
    assert [s[1] for s in web.suppressions()] == [other["id"]]


def test_resubscribe_cannot_lift_a_complaint(web):
    ann = web.member("ann@example.org")
    suppress_address(web.engine, "ann@example.org", "complained", source="test")
    token = web.token("unsubscribe", ann["id"])
    response = web.client.post(f"/unsubscribe/{token}", data={"action": "resubscribe"})
    assert response.status_code == 409
    assert web.status(ann["id"]) == "unsubscribed"


def test_security_headers_on_every_response(web):
    ann = web.member("ann@example.org")
    token = web.token("unsubscribe", ann["id"])
    responses = [
        web.client.get(f"/unsubscribe/{token}"),
        web.client.get("/healthz"),
        web.client.get("/no-such-page"),
        web.client.get("/subscribe"),
        _post_one_click(web.client, token, "urlencoded"),
    ]
    for r in responses:
        assert "default-src 'none'" in r.headers["Content-Security-Policy"]
        assert "script-src" not in r.headers["Content-Security-Policy"]  # no scripts at all
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert r.headers["Referrer-Policy"] == "no-referrer"


def test_unexpected_errors_are_the_plain_error_page_with_the_headers(web):
    def broken() -> None:
        raise RuntimeError("a bug")

    web.app.view_functions["healthz"] = broken
    for response in (web.client.get("/healthz"), web.client.delete("/subscribe")):
        assert response.status_code in (500, 405)
        assert "Request not accepted" in response.get_data(as_text=True)
        assert "default-src 'none'" in response.headers["Content-Security-Policy"]
        assert response.headers["X-Frame-Options"] == "DENY"


def test_one_click_for_a_list_that_no_longer_exists_is_404_and_writes_nothing(web):
    from sqlalchemy import text

    from tests.support.subscriber_store import snapshot

    daily = create_list(web.engine, "daily", "The Daily")
    ann = web.member("ann@example.org", slug="daily")
    web.member("ann@example.org")
    token = web.token("unsubscribe", ann["id"], daily["id"])
    with web.engine.begin() as conn:
        conn.execute(text("DELETE FROM memberships WHERE list_id = :id"), {"id": daily["id"]})
        conn.execute(text("DELETE FROM lists WHERE id = :id"), {"id": daily["id"]})
    before = snapshot(web.engine)
    for encoding in ("urlencoded", "multipart"):
        assert _post_one_click(web.client, token, encoding).status_code == 404
    page = web.client.post(f"/unsubscribe/{token}", data={"action": "unsubscribe"})
    assert page.status_code == 404
    assert snapshot(web.engine) == before and web.suppressions() == []
    assert web.status(ann["id"]) == "subscribed"  # still on the list that exists


def test_user_supplied_text_is_escaped(web):
    evil = create_list(web.engine, "evil", "<script>alert(1)</script>")
    ann = web.member("ann@example.org", name="<img src=x onerror=alert(1)>", slug="evil")
    page = web.client.get(f"/unsubscribe/{web.token('unsubscribe', ann['id'], evil['id'])}")
    text = page.get_data(as_text=True)
    assert "<script>alert" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text


def test_database_trouble_is_503_not_a_silent_404(web, tmp_path):
    from newsletter.db.engine import make_engine
    from newsletter.web import create_app

    ann = web.member("ann@example.org")
    empty = make_engine(f"sqlite:///{tmp_path / 'empty.db'}", upgrade=False)  # no tables
    client = create_app(web.settings, empty).test_client()
    response = client.post(
        f"/unsubscribe/{web.token('unsubscribe', ann['id'])}",
        data={"List-Unsubscribe": "One-Click"},
    )
    assert response.status_code == 503 and response.headers["Retry-After"] == "60"
    empty.dispose()


def test_a_project_can_override_a_page_template(web):
    from newsletter.web import create_app

    pages = web.workdir / "templates" / "pages"
    pages.mkdir(parents=True)
    (pages / "not_found.html.j2").write_text(
        '{% extends "base.html.j2" %}{% block content %}<h1>Nothing here, friend</h1>'
        "{% endblock %}",
        encoding="utf-8",
    )
    client = create_app(web.settings, web.engine).test_client()
    response = client.get("/unsubscribe/forged-token")
    assert response.status_code == 404 and "Nothing here, friend" in response.get_data(as_text=True)


def test_pages_do_not_wait_for_a_writer_holding_the_database(web, monkeypatch):
    """A long write (an import chunk, a send's claim) must not hold up the unsubscribe page or
    the health check: on SQLite they read in a deferred transaction (WAL), and only the
    one-click POST itself takes the write lock."""
    from sqlalchemy import text

    from newsletter.db import connection as db_connection

    monkeypatch.setattr(db_connection, "BUSY_TIMEOUT_S", 1.0)  # a regression fails in 1 s, not 30
    ann = web.member("ann@example.org", "Ann")
    token = web.token("unsubscribe", ann["id"])
    with web.engine.begin() as writer:  # holds the write lock until the block ends
        writer.execute(text("UPDATE lists SET description = 'being edited'"))
        page = web.client.get(f"/unsubscribe/{token}")
        health = web.client.get("/healthz")
    assert page.status_code == 200 and "a***@example.org" in page.get_data(as_text=True)
    assert health.status_code == 200 and health.get_json() == {"status": "ok"}
