"""`newsletter report`: for a scripted send (ten readers, each doing something known), the
figures must be exactly the ones written here; the list of recent sends; the HTML page in
Chromium; and the totals that remain once hits expire. On both databases."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from newsletter.cli import cli
from newsletter.db import tables
from newsletter.db.clock import utcnow
from newsletter.tracking.retention import expire, months_before
from tests.support.browser import axe_serious
from tests.support.tracking import (
    APPLE_PROXY,
    BROWSER,
    GMAIL_PROXY,
    LINKS,
    TRACKED_ISSUE,
    send_tracked,
    stored_hits,
)

ISSUE_ID = "2026-02-01-tracked"
READERS = [f"s{i}@example.org" for i in range(1, 11)]
EXPECTED = {
    "issue": ISSUE_ID,
    "sent": 10,
    "delivered": None,  # the outbox reports no deliveries
    "bounced": 0,
    "complained": 0,
    "unsubscribed": 1,  # s10
    "opens": {"human": 4, "machine": 3},  # s1 s2 s4 s7 | s3 s5 s6
    "clicks": {"human": 3, "machine": 3},  # s1 s2 s7 | s3 s5 s6
    "links": [
        {"url": LINKS[0], "human": 1, "machine": 2},  # s1 | s5 s6
        {"url": LINKS[1], "human": 1, "machine": 2},  # s2 | s5 s6
        {"url": LINKS[2], "human": 1, "machine": 1},  # s7 (after a HEAD) | s6
        {"url": LINKS[3], "human": 0, "machine": 1},  # s3 with curl
    ],
}
REASONS = {
    "machine:agent": 1,  # s3's curl click
    "machine:apple-proxy": 1,  # s3's open
    "machine:burst": 1,  # s6
    "machine:trap": 1,  # s5
}


def scripted_hits(web, mails) -> None:  # type: ignore[no-untyped-def]
    """What each of the ten readers does; the expected figures above follow from it."""

    def hit(url: str, agent: str = BROWSER, method: str = "GET") -> None:
        path = url.split("8000", 1)[1]
        answer = web.client.open(path, method=method, headers={"User-Agent": agent})
        assert answer.status_code in (200, 302)

    m = {email.split("@")[0]: mail for email, mail in mails.items()}
    hit(m["s1"].pixel)  # opens, then clicks the first link
    hit(m["s1"].clicks[LINKS[0]])
    hit(m["s2"].clicks[LINKS[1]])  # clicks with images blocked: an open too
    hit(m["s3"].pixel, APPLE_PROXY)  # Apple's proxy fetches the image ...
    hit(m["s3"].clicks[LINKS[3]], "curl/8.5.0")  # ... and a script follows a link
    hit(m["s4"].pixel, GMAIL_PROXY)  # opened in Gmail
    hit(m["s5"].trap)  # a gateway scanner with a browser's agent: trap, then links
    hit(m["s5"].clicks[LINKS[0]])
    hit(m["s5"].clicks[LINKS[1]])
    for target in LINKS[:3]:  # three links at once: a burst
        hit(m["s6"].clicks[target])
    hit(m["s7"].clicks[LINKS[2]], method="HEAD")  # a HEAD (machine), then the reader's click
    hit(m["s7"].clicks[LINKS[2]])
    # s8 opted out of tracking: clicks and opens, nothing is recorded.
    prefs = web.token("preferences", m["s8"].subscriber_id)
    web.client.post(f"/preferences/{prefs}", data={"action": "tracking", "no_tracking": "1"})
    hit(m["s8"].pixel)
    hit(m["s8"].clicks[LINKS[3]])
    hit(m["s9"].clicks[LINKS[0]].rsplit("/", 1)[0] + "/" + "f" * 32)  # a forged token
    unsubscribe = m["s10"].unsubscribe.split("8000", 1)[1]
    assert web.client.post(unsubscribe, data={"List-Unsubscribe": "One-Click"}).status_code == 200


@pytest.fixture
def scripted(web):  # type: ignore[no-untyped-def]
    mails = send_tracked(web, READERS)
    scripted_hits(web, mails)
    return mails


@pytest.fixture
def report(workdir, database_url):  # type: ignore[no-untyped-def]
    runner = CliRunner()

    def run(*args: str, ok: bool = True):  # type: ignore[no-untyped-def]
        result = runner.invoke(cli, ["report", *args], env={"DATABASE_URL": database_url})
        if ok:
            assert result.exit_code == 0, (result.output, result.stderr)
        return result

    return run


def test_the_reports_figures_match_the_hits_made(web, scripted, report):
    data = json.loads(report(ISSUE_ID, "--json").stdout)
    assert {k: data[k] for k in EXPECTED} == EXPECTED
    assert data["machine_reasons"] == REASONS
    assert data["click_to_open"] == 0.75 and data["open_rate"] == 0.4 and data["click_rate"] == 0.3
    assert data["tracking"] == {"clicks": True, "opens": True} and data["hits_expired"] is False
    line = data["timeline"]
    assert line["hours"] == 168 and len(line["opens"]) == len(line["clicks"]) == 168
    assert (line["opens"][0], sum(line["opens"]), line["clicks"][0], sum(line["clicks"])) == (
        4,
        4,
        3,
        3,
    )
    # Nothing about s8 (opted out) or s9 (forged token) was stored.
    stored = {row[0] for row in stored_hits(web.engine)}
    assert scripted["s8@example.org"].subscriber_id not in stored
    assert scripted["s9@example.org"].subscriber_id not in stored


def test_the_text_report_says_the_same(web, scripted, report):
    out = report(ISSUE_ID).stdout
    assert "sent 10  delivered -  bounced 0  complained 0  unsubscribed through this issue 1" in out
    assert "opened  4 people (40.0%), 3 machines" in out
    assert "clicked 3 people (30.0%), 3 machines" in out
    assert "click-to-open (people) 75.0%" in out
    assert (
        "machines by reason: machine:agent 1, machine:apple-proxy 1, machine:burst 1, "
        "machine:trap 1"
    ) in out
    assert [line.split()[:3] for line in out.splitlines() if "https://example.org" in line] == [
        ["1", "/", "2"],
        ["1", "/", "2"],
        ["1", "/", "1"],
        ["0", "/", "1"],
    ]


def test_without_an_issue_the_last_sends_are_listed_side_by_side(web, scripted, report):
    web.send_issue(TRACKED_ISSUE, name="2026-02-08-next")
    lines = report().stdout.splitlines()
    assert lines[0].split() == [
        "send",
        "started",
        "sent",
        "opened",
        "clicked",
        "CTO",
        "unsub",
        "bounced",
        "issue",
    ]
    newest, first = lines[1].split(), lines[2].split()  # "started" is a date and a time
    # The next issue went to the nine still subscribed; nobody opened it yet.
    assert newest[-1] == "2026-02-08-next" and newest[3:9] == ["9", "0.0%", "0.0%", "-", "0", "0"]
    assert first[-1] == ISSUE_ID and first[3:9] == ["10", "40.0%", "30.0%", "75.0%", "1", "0"]
    rows = json.loads(report("--json").stdout)
    assert [r["issue"] for r in rows] == ["2026-02-08-next", ISSUE_ID]
    assert rows[1]["opens"] == EXPECTED["opens"] and "links" not in rows[1]


def test_an_unsent_issue_is_a_one_line_error(web, report):
    result = report("2099-01-01-nothing", ok=False)
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "error: 2099-01-01-nothing has not been sent (see `newsletter status`)"
    )


def _overview(web, report) -> str:  # type: ignore[no-untyped-def]
    page_file = web.workdir / "overview.html"
    out = report("--html", str(page_file))
    assert out.stdout.splitlines()[-1] == f"wrote {page_file}"  # after the usual table
    return page_file.read_text(encoding="utf-8")


def test_html_without_an_issue_draws_growth_beside_the_last_sends(
    web, scripted, report, database_url
):
    html = _overview(web, report)
    assert "<script" not in html.lower() and "<link" not in html.lower()
    assert " src=" not in html and "@import" not in html
    assert html.count("url(") == html.count("url(#growth-")  # only the chart's own patterns
    assert html.count('<svg class="growth"') == 1
    history = CliRunner().invoke(
        cli, ["lists", "--history", "--json"], env={"DATABASE_URL": database_url}
    )
    weeks = json.loads(history.stdout)
    growth = html[html.index('id="growth-heading"') : html.index('id="sends-heading"')]
    assert growth.count('<th scope="row">') == len(weeks) == 12
    this_week = weeks[-1]
    assert f'<th scope="row">{this_week["week"]}</th><td>{this_week["joins"]}</td>' in growth
    assert (this_week["joins"], this_week["unsubscribes"]) == (10, 1)  # s10 left
    sends = html[html.index('id="sends-heading"') :]
    assert sends.count("<tr><td>#") == 1 and ISSUE_ID in sends and "40.0%" in sends


@pytest.mark.browser
def test_the_overview_page_is_accessible_and_fits_a_phone(web, scripted, report, chromium):
    page_file = web.workdir / "overview.html"
    _overview(web, report)
    context = chromium.new_context(bypass_csp=True)  # only to inject axe-core
    try:
        page = context.new_page()
        page.goto(page_file.as_uri())
        assert page.locator("svg.growth").bounding_box()["height"] > 100
        assert axe_serious(page) == []
        page.set_viewport_size({"width": 375, "height": 800})
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
        assert axe_serious(page) == []
    finally:
        context.close()


def test_expired_hits_leave_the_same_totals_and_record_nothing_more(web, scripted, report):
    before = json.loads(report(ISSUE_ID, "--json").stdout)
    later = utcnow() + timedelta(days=400)  # past the 13 months
    assert months_before(later, 13) > utcnow() - timedelta(days=1)
    assert expire(web.engine, web.settings, later) == [1]
    assert stored_hits(web.engine) == []
    with web.engine.connect() as conn:
        assert (
            conn.execute(select(func.count()).select_from(tables.tracking_recipients)).scalar() == 0
        )
    web.client.get(scripted["s1@example.org"].clicks[LINKS[1]].split("8000", 1)[1])
    assert stored_hits(web.engine) == []  # an expired send records nothing more
    after = json.loads(report(ISSUE_ID, "--json").stdout)
    for key in (*EXPECTED, "machine_reasons"):
        assert after[key] == before[key], key
    assert after["hits_expired"] is True and after["timeline"] is None
    assert expire(web.engine, web.settings, later) == []  # once


def test_retention_counts_calendar_months():
    from datetime import UTC, datetime

    assert months_before(datetime(2027, 3, 31, 9, tzinfo=UTC), 13) == datetime(
        2026, 2, 28, 9, tzinfo=UTC
    )
    assert months_before(datetime(2027, 1, 15, tzinfo=UTC), 1) == datetime(2026, 12, 15, tzinfo=UTC)


@pytest.mark.browser
def test_the_html_report_is_one_self_contained_accessible_page(web, scripted, report, chromium):
    page_file = web.workdir / "report.html"
    report(ISSUE_ID, "--html", str(page_file))
    html = page_file.read_text(encoding="utf-8")
    assert "<script" not in html.lower() and "<link" not in html.lower()
    assert " src=" not in html and "@import" not in html and "url(" not in html
    assert html.count("<svg") == 1 and html.count('<div class="bar"') == 4
    fetched: list[str] = []
    context = chromium.new_context(bypass_csp=True)  # only to inject axe-core

    def watch(route):  # type: ignore[no-untyped-def]
        fetched.append(route.request.url)
        route.continue_() if route.request.url.startswith("file:") else route.abort()

    context.route("**/*", watch)
    try:
        page = context.new_page()
        page.goto(page_file.as_uri())
        assert page.inner_text("h1") == "The tracked issue"  # the subject
        assert ISSUE_ID in page.inner_text(".meta")
        assert "Click-to-open (people)" in page.inner_text("main")
        assert page.locator("svg.timeline").bounding_box()["height"] > 100
        assert fetched == [page_file.as_uri()]  # nothing but the page itself
        assert axe_serious(page) == []
        page.set_viewport_size({"width": 375, "height": 800})
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
        overflowing = page.evaluate(
            "() => [...document.querySelectorAll('body *')]"
            ".filter(e => e.getBoundingClientRect().right > 375.5).map(e => e.tagName)"
        )
        assert overflowing == []
        assert axe_serious(page) == []
    finally:
        context.close()


def test_bounces_and_complaints_are_counted_hard_and_soft_apart(web, scripted, report):
    """The report reads the same ledger statuses and bounce records as `status` (issue 13)."""
    from newsletter.sending.provider_events import apply_event, read_event

    send_id = json.loads(report(ISSUE_ID, "--json").stdout)["send_id"]

    def event(reader: str, **fields: str) -> None:
        sid = scripted[f"{reader}@example.org"].subscriber_id
        raw = {"email": f"{reader}@example.org", "send_ref": f"send-{send_id}",
               "subscriber_id": str(sid), **fields}  # fmt: skip
        apply_event(web.engine, read_event(raw))

    event("s2", event="bounce", type="bounce", reason="550 5.1.1 user unknown")
    event("s4", event="bounce", type="blocked", reason="554 5.7.1 listed at a blocklist")
    event("s6", event="spamreport")
    data = json.loads(report(ISSUE_ID, "--json").stdout)
    assert (data["bounced"], data["complained"]) == (2, 1)
    assert data["bounces"] == {"hard": 1, "soft": 0, "blocked": 1}
    out = report(ISSUE_ID).stdout
    assert "bounced 2 (hard 1, soft 0, blocked 1)  complained 1" in out
