"""Click and open tracking written into the HTML: which links, how, once per send; the trap
link and the pixel; the text part and the web copy untouched; the switches (settings, front
matter); the Gmail-clipping check measuring the HTML as sent."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import func, select

from newsletter.authoring import placeholders, tracked_links
from newsletter.authoring.issue_file import read_issue
from newsletter.authoring.lint import GMAIL_CLIP_BYTES, as_sent, check_issue
from newsletter.authoring.render import render_issue
from newsletter.config import Settings, load_settings
from newsletter.db import tables
from newsletter.errors import ConfigError
from tests.support.tracking import LINKS, TRACKED_ISSUE, send_tracked

SITE = "https://news.example.org"
PAGE = (
    '<html><body><a href="https://example.org/a?x=1&amp;y=2">A</a>'
    f'<a href="{placeholders.UNSUBSCRIBE_URL}">Unsubscribe</a>'
    f'<a href="{placeholders.VIEW_URL}">View</a>'
    f'<a href="{SITE}/archive/2026-01-01-x">Archive</a>'
    '<a href="mailto:editor@example.org">Write</a>'
    "<a href='http://example.org/b'>B</a>"
    '<a href="https://example.org/a?x=1&amp;y=2">A again</a>'
    '<a href="https://example.org/?email=__NL_EMAIL__">Personal</a>'
    "</body></html>"
)


def test_only_http_links_that_are_not_the_sites_own_pages_are_trackable():
    assert tracked_links.trackable_urls(PAGE, SITE) == [
        "https://example.org/a?x=1&y=2",  # unescaped: the target as a browser would follow it
        "http://example.org/b",
    ]


def test_rewrite_points_each_link_at_its_stored_id_and_leaves_the_rest():
    ids = {"https://example.org/a?x=1&y=2": 17, "http://example.org/b": 18}
    out = tracked_links.rewrite(PAGE, SITE + "/", ids)
    assert out.count(f'href="{SITE}/c/17/{placeholders.TRACK}"') == 2
    assert f"href='{SITE}/c/18/{placeholders.TRACK}'" in out
    for untouched in (
        placeholders.UNSUBSCRIBE_URL,
        placeholders.VIEW_URL,
        f"{SITE}/archive/2026-01-01-x",
        "mailto:editor@example.org",
        "https://example.org/?email=__NL_EMAIL__",
    ):
        assert f'href="{untouched}"' in out
    assert '"https://example.org/a' not in out and "'http://example.org/b" not in out


def test_trap_and_pixel_go_before_the_end_of_the_body():
    out = tracked_links.rewrite(PAGE, SITE, {}, trap_id=99, pixel=True)
    tail = out[out.index("Personal</a>") + len("Personal</a>") :]
    trap = re.search(r"<div [^>]*><a ([^>]*)>", tail)
    assert trap and "display:none" in trap.group(0) and 'aria-hidden="true"' in trap.group(0)
    assert f'href="{SITE}/c/99/{placeholders.TRACK}"' in trap.group(1)
    assert 'tabindex="-1"' in trap.group(1)
    assert f'<img src="{SITE}/o/{placeholders.TRACK}.gif" width="1" height="1" alt=""' in tail
    assert tail.endswith("</body></html>")


def test_personalise_fills_the_token_in_every_tracked_url_in_one_pass():
    out = tracked_links.rewrite(PAGE, SITE, {"http://example.org/b": 5}, trap_id=6, pixel=True)
    rendered = render_issue(read_issue(_issue_file(Path.cwd())), Settings())
    rendered = replace(rendered, html=out)
    tag = "0123456789abcdef" * 2
    mine = placeholders.personalise(rendered, placeholders_recipient(tag)).html
    assert f"{SITE}/c/5/{tag}" in mine and f"{SITE}/c/6/{tag}" in mine
    assert f"{SITE}/o/{tag}.gif" in mine and placeholders.TRACK not in mine
    proof = placeholders.personalise(rendered, placeholders_recipient("")).html
    assert f"{SITE}/c/5/{placeholders.NO_TRACK}" in proof  # outside a send: works, counts nothing


def placeholders_recipient(tag: str):  # type: ignore[no-untyped-def]
    from newsletter.models import Recipient

    return Recipient(email="ann@example.org", link_tag=tag)  # the link tag, not the header one


def _issue_file(folder: Path, text: str = TRACKED_ISSUE, name: str = "2026-02-01-tracked") -> Path:
    path = folder / f"{name}.md"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_rendered_issue_and_web_copy_stay_untracked(workdir):
    rendered = render_issue(read_issue(_issue_file(workdir)), Settings())
    for part in (rendered.html, rendered.text, rendered.web_html):
        assert "/c/" not in part and "/o/" not in part and placeholders.TRACK not in part
    assert all(f"{url}" in rendered.text for url in LINKS)


def test_a_send_stores_its_links_once_and_tracks_only_the_html(web):
    mails = send_tracked(web, ["ann@example.org", "bob@example.org"])
    ann, bob = mails["ann@example.org"], mails["bob@example.org"]
    links = tables.tracked_links
    with web.engine.connect() as conn:
        stored = conn.execute(select(links.c.url, links.c.kind).order_by(links.c.position)).all()
        count = conn.execute(select(func.count()).select_from(tables.tracked_sends)).scalar()
    view = f"{web.settings.site_url}/archive/2026-02-01-tracked"
    assert stored == [(url, "link") for url in LINKS] + [(view, "trap")]  # once, in order
    assert count == 1
    # Same link ids for everybody; each person's own token.
    assert [u.rsplit("/", 1)[0] for u in ann.clicks.values()] == [
        u.rsplit("/", 1)[0] for u in bob.clicks.values()
    ]
    assert ann.pixel != bob.pixel
    for mail in (ann, bob):
        assert all(url in mail.text for url in LINKS)  # the text part keeps real URLs
        assert "/c/" not in mail.text and "/o/" not in mail.text and mail.trap not in mail.text
        assert mail.unsubscribe in mail.html  # unsubscribe, preferences, view: not tracked
        assert f'href="{view}"' in mail.html
        assert "https://example.org/" not in mail.html  # every issue link is tracked


@pytest.mark.parametrize(
    "front,clicks,opens",
    [("", True, True), ("track_clicks: false\n", False, True), ("track_opens: no\n", True, False)],
)
def test_front_matter_switches_turn_tracking_off_for_one_issue(workdir, front, clicks, opens):
    text = TRACKED_ISSUE.replace("lists: [news]\n", "lists: [news]\n" + front)
    issue = read_issue(_issue_file(workdir, text))
    settings = Settings()
    assert tracked_links.switches(issue, settings) == (clicks, opens)
    sent = as_sent(render_issue(issue, settings), issue, settings).html
    assert ("/c/" in sent) is clicks and ("/o/" in sent) is opens


def test_settings_turn_tracking_off_everywhere_and_an_issue_can_turn_it_back_on(workdir):
    (workdir / "newsletter.toml").write_text("track_clicks = false\n")
    settings = load_settings(env={"NEWSLETTER_TRACK_OPENS": "off"})
    assert (settings.track_clicks, settings.track_opens) == (False, False)
    issue = read_issue(_issue_file(workdir))
    assert tracked_links.switches(issue, settings) == (False, False)
    on = read_issue(
        _issue_file(workdir, TRACKED_ISSUE.replace("---\nThe", "track_opens: true\n---\nThe"))
    )
    assert tracked_links.switches(on, settings) == (False, True)
    with pytest.raises(ConfigError, match="'track_opens' must be true or false"):
        load_settings(env={"NEWSLETTER_TRACK_OPENS": "maybe"})


def test_a_bad_switch_in_front_matter_is_an_error_on_its_line(workdir):
    from newsletter.authoring.issue_file import parse_issue

    path = _issue_file(
        workdir,
        TRACKED_ISSUE.replace("lists: [news]\n", "lists: [news]\ntrack_clicks: sometimes\n"),
    )
    issue, problems = parse_issue(path)
    assert issue is None
    assert [(p.line, p.message) for p in problems if p.severity == "error"] == [
        (6, "'track_clicks' is true or false, got 'sometimes'")
    ]


def test_gmail_clipping_check_measures_the_html_as_sent(workdir):
    """An issue just under the limit untracked, over it once every link is tracked."""
    settings = Settings(site_url="https://news.example.org")
    body = "\n\n".join(
        f"Paragraph {i} with [a link](https://example.org/p/{i})." for i in range(700)
    )
    text = TRACKED_ISSUE.replace("The intro links", body + "\n\nThe intro links")
    issue = read_issue(_issue_file(workdir, text))
    rendered = render_issue(issue, settings)
    untracked = len(rendered.html.encode())
    sent = as_sent(rendered, issue, settings).html
    assert untracked < GMAIL_CLIP_BYTES < len(sent.encode()), (untracked, len(sent.encode()))
    assert re.search(r"/c/4\d{18}/", sent)  # sample ids as long as the random ones
    messages = [p.message for p in check_issue(workdir / "2026-02-01-tracked.md", settings)]
    assert any("over Gmail's 102,000-byte limit" in m for m in messages), messages
    off = Settings(site_url="https://news.example.org", track_clicks=False, track_opens=False)
    messages = [p.message for p in check_issue(workdir / "2026-02-01-tracked.md", off)]
    assert not any("over Gmail's" in m for m in messages)


def test_re_rendering_a_send_keeps_the_ids_of_links_already_mailed(web):
    from newsletter.tracking.links import links_of, track_send

    send_tracked(web, ["ann@example.org"])
    issue = read_issue(_issue_file(web.workdir, name="2026-02-01-tracked"))
    with web.engine.begin() as conn:
        before = {lk.url: lk.id for lk in links_of(conn, 1)}
        html = render_issue(issue, web.settings).html.replace(LINKS[3], "https://example.org/new")
        sent = track_send(conn, web.settings, issue, 1, html)
        after = links_of(conn, 1)
        stored = conn.execute(select(tables.tracked_sends.c.html)).scalars().all()
    assert {lk.url: lk.id for lk in after if lk.url in before} == before  # old links still work
    assert [lk.url for lk in after][-1] == "https://example.org/new"  # appended
    new_id = after[-1].id
    assert stored == [sent] and f"/c/{new_id}/{placeholders.TRACK}" in sent
    assert f"/c/{before[LINKS[3]]}/" not in sent  # no longer in this version
