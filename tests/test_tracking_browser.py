"""In headless Chromium: a click through a tracked link of a really sent message lands on the
target (and the reader counts as a person); the tracked email (trap link, pixel) still has no
serious accessibility violation, hides the trap from people and keyboards, and fits 375 px."""

from __future__ import annotations

import dataclasses
import re
import threading
from email import policy
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from newsletter.authoring.issue_file import read_issue
from newsletter.authoring.lint import as_sent
from newsletter.authoring.render import render_issue
from newsletter.config import Settings
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, axe_serious
from tests.support.ports import free_port
from tests.support.tracking import BROWSER, link_id, stored_hits

pytestmark = pytest.mark.browser
SAMPLE = Path(__file__).resolve().parent.parent / "issues" / "2019-03-01-hanoi-summit.md"


LANDED = b"<!doctype html><html lang='en'><title>Landed</title><h1>Landed here</h1></html>"


class _Landing(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (the http.server API)
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(LANDED)))
        self.end_headers()
        self.wfile.write(LANDED)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def landing_browser(chromium):  # type: ignore[no-untyped-def]
    """(target URL, browser): a landing page served on 127.0.0.1 under a real-looking host name
    (issue links need one), which this Chromium resolves to 127.0.0.1."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Landing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    rules = "--host-resolver-rules=MAP landing.example.org 127.0.0.1"
    browser = chromium.browser_type.launch(executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, rules])
    try:
        yield f"http://landing.example.org:{server.server_address[1]}/page?from=news&x=1", browser
    finally:
        browser.close()
        server.shutdown()
        server.server_close()


@pytest.mark.slow
def test_a_chromium_click_through_a_tracked_link_lands_on_the_target(
    web, live_server, landing_browser
):
    landing, browser = landing_browser
    port = free_port()
    settings = dataclasses.replace(web.settings, site_url=f"http://127.0.0.1:{port}")
    ann = web.member("ann@example.org", "Ann")
    issue = (
        "---\ntitle: Click me\npreheader: One link\nlists: [news]\n---\n"
        f"Read [the landing page]({landing}).\n"
    )
    web.send_issue(issue, name="2026-03-01-click", settings=settings)
    [eml] = list((Path(settings.outbox_dir) / "new").glob(f"*.{ann['id']}.eml"))
    message = BytesParser(policy=policy.default).parsebytes(eml.read_bytes())
    tracked = message.get_body(("html",)).get_content()
    mail_file = web.workdir / "mail.html"
    mail_file.write_text(tracked, encoding="utf-8")
    live_server(settings=settings, port=port)
    assert f'href="{landing}"' not in tracked.replace("&amp;", "&")  # the link goes through us

    context = browser.new_context(user_agent=BROWSER)  # a reader's browser, not a headless one
    try:
        page = context.new_page()
        page.goto(mail_file.as_uri())
        page.wait_for_load_state("networkidle")  # the pixel was fetched: an open
        trap = page.locator('a[tabindex="-1"]')
        assert trap.count() == 1 and not trap.is_visible()
        with page.expect_navigation():
            page.get_by_role("link", name="the landing page").click()
        assert page.url == landing
        assert page.inner_text("h1") == "Landed here"
    finally:
        context.close()
    [click_url] = re.findall(r'<a href="(http://[^"]+/c/\d+/[0-9a-f]+)" style=', tracked)
    assert stored_hits(web.engine) == [
        (ann["id"], 0, "human", "human", 1),
        (ann["id"], link_id(click_url), "human", "human", 1),
    ]


@pytest.fixture(scope="module")
def tracked_email(tmp_path_factory: pytest.TempPathFactory) -> Path:
    settings = Settings(site_url="https://news.example.org")
    issue = read_issue(SAMPLE)
    html = as_sent(render_issue(issue, settings), issue, settings).html
    assert 'tabindex="-1"' in html and "/o/__NL_TRACK__.gif" in html
    path = tmp_path_factory.mktemp("tracked") / "email.html"
    path.write_text(html, encoding="utf-8")
    return path


def test_the_tracked_email_has_no_serious_accessibility_violation(chromium, tracked_email):
    context = chromium.new_context(bypass_csp=True)
    context.route(
        "**/*", lambda r: r.continue_() if r.request.url.startswith("file:") else r.abort()
    )
    try:
        page = context.new_page()
        page.goto(tracked_email.as_uri())
        assert axe_serious(page) == []
        # Keyboard users never reach the trap: Tab goes through every other link first and
        # wraps around without it.
        reached = set()
        for _ in range(60):
            page.keyboard.press("Tab")
            reached.add(page.evaluate("document.activeElement.getAttribute('tabindex')"))
        assert "-1" not in reached
    finally:
        context.close()


def test_the_tracked_email_still_fits_a_375px_screen(browser_page, tracked_email):
    browser_page.set_viewport_size({"width": 375, "height": 800})
    browser_page.goto(tracked_email.as_uri())
    assert browser_page.evaluate("document.documentElement.scrollWidth") <= 375
