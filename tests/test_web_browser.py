"""In headless Chromium: the unsubscribe link of a really sent message, the button, the
confirmation, and axe-core finding nothing serious or critical on either page."""

from __future__ import annotations

import dataclasses
import re
from email import policy
from email.parser import BytesParser
from pathlib import Path

import pytest

from tests.support.browser import axe_serious
from tests.support.ports import free_port


@pytest.mark.browser
@pytest.mark.slow
def test_unsubscribe_from_a_sent_message_in_chromium(web, live_server, chromium):
    port = free_port()
    settings = dataclasses.replace(web.settings, site_url=f"http://127.0.0.1:{port}")
    ann = web.member("ann@example.org", "Ann")
    web.send_issue(settings=settings)
    [eml] = list((Path(settings.outbox_dir) / "new").glob("*.eml"))
    message = BytesParser(policy=policy.default).parsebytes(eml.read_bytes())
    link = re.search(r"<(http://[^>]+/unsubscribe/[^>]+)>", message["List-Unsubscribe"]).group(1)
    assert link in message.get_body(("html",)).get_content()  # the same link is in the body
    live_server(settings=settings, port=port)

    context = chromium.new_context(bypass_csp=True)  # only to inject axe-core; the page has no JS
    try:
        page = context.new_page()
        response = page.goto(link)
        assert response.status == 200
        assert page.get_attribute("html", "lang") == "en"
        assert "Unsubscribe from The News" in page.inner_text("h1")
        assert axe_serious(page) == []
        assert web.status(ann["id"]) == "subscribed"  # opening the page changed nothing
        page.get_by_role("button", name="Unsubscribe").click()
        page.wait_for_load_state()
        assert page.inner_text("h1") == "You are unsubscribed"
        assert page.url == link  # no redirect
        assert axe_serious(page) == []
        page.set_viewport_size({"width": 360, "height": 740})  # narrow phone: still no issues
        assert axe_serious(page) == []
    finally:
        context.close()
    assert web.status(ann["id"]) == "unsubscribed"


@pytest.mark.browser
@pytest.mark.slow
def test_other_pages_have_no_serious_axe_violations(web, live_server, chromium):
    from newsletter.audience.lists import create_list
    from newsletter.audience.subscribers import add_subscriber

    create_list(web.engine, "daily", "The Daily")
    ann = web.member("ann@example.org")
    web.member("ann@example.org", slug="daily")
    bea = add_subscriber(web.engine, "bea@example.org", "news", status="unconfirmed")
    base = live_server()
    pages = [
        "/subscribe",
        f"/preferences/{web.token('preferences', ann['id'], 0)}",
        f"/confirm/{web.signer.make_confirm(bea['id'], web.list['id'])}",
        "/archive",
        "/no-such-page",
    ]
    context = chromium.new_context(bypass_csp=True)
    try:
        page = context.new_page()
        for path in pages:
            page.goto(base + path)
            assert axe_serious(page) == [], path
        page.goto(base + pages[2])
        page.get_by_role("button", name="Yes, subscribe me").click()
        page.wait_for_load_state()
        assert page.inner_text("h1") == "Subscription confirmed"
        assert web.status(bea["id"]) == "subscribed"
        page.goto(base + "/subscribe")
        page.get_by_label("Email address").fill("new@example.org")
        page.get_by_role("button", name="Subscribe").click()
        page.wait_for_load_state()
        assert page.inner_text("h1") == "Check your inbox"
        assert axe_serious(page) == []
    finally:
        context.close()
