"""The archive is a choice (issue 23, point 1): private lists, `archive: false`, test sends,
one entry per issue (the first public send's stored page, exactly as sent), the issue's
`date:`, back-links, Atom summaries, the front page, and image addresses in `check` and
`send`."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from email import policy
from email.parser import BytesParser

import pytest

from newsletter.audience.list_edits import update_list
from newsletter.audience.lists import create_list
from newsletter.authoring.issue_file import parse_issue
from newsletter.errors import SendError
from newsletter.sending.proof import send_proof
from tests.support.web_server import ISSUE, post_form

ATOM = "{http://www.w3.org/2005/Atom}"


def _issue(*front: str, body: str = "") -> str:
    head, rest = ISSUE.split("---\n", 2)[1:]
    return "---\n" + head + "".join(f"{line}\n" for line in front) + "---\n" + body + rest


def _index(web) -> str:  # noqa: ANN001
    return web.client.get("/archive").get_data(as_text=True)


def test_a_send_to_a_private_list_is_never_in_the_archive(web) -> None:
    update_list(web.engine, "news", private=True)
    web.member("ann@example.org")
    web.send_issue()
    assert "The test issue subject" not in _index(web)
    assert web.client.get("/archive/2026-01-01-test").status_code == 404
    feed = ET.fromstring(web.client.get("/archive/feed.atom").get_data())
    assert feed.findall(f"{ATOM}entry") == []


def test_a_private_list_is_not_subscribable_and_not_on_the_front_page(web) -> None:
    create_list(web.engine, "staff", "Staff notes", private=True)
    assert web.client.get("/subscribe/staff").status_code == 404
    assert post_form(web.client, {"email": "x@example.org"}, "/subscribe/staff").status_code == 404
    front = web.client.get("/").get_data(as_text=True)
    assert "The News" in front and "Staff notes" not in front


def test_an_issue_that_says_archive_false_is_not_published(web) -> None:
    web.member("ann@example.org")
    web.send_issue(_issue("archive: false"))
    assert "The test issue subject" not in _index(web)
    assert web.client.get("/archive/2026-01-01-test").status_code == 404
    # ... and its mail has no "view in browser" link, which would lead to that 404
    web.send_issue(name="2026-01-02-public")
    paths = sorted(
        (web.workdir / "outbox" / "new").glob("*.eml"), key=lambda p: p.stat().st_mtime_ns
    )
    hidden, public = (
        BytesParser(policy=policy.default)
        .parsebytes(p.read_bytes())
        .get_body(("plain",))
        .get_content()
        for p in paths
    )
    assert "View in your browser" not in hidden and "/archive/" not in hidden
    assert "View in your browser: http://127.0.0.1:8000/archive/2026-01-02-public" in public


def test_a_test_send_never_archives(web) -> None:
    path = web.workdir / "issues" / "2026-01-01-test.md"
    path.parent.mkdir(exist_ok=True)
    path.write_text(ISSUE, encoding="utf-8")
    results = send_proof(web.settings, path, ["me@example.org"])
    assert [r.status for r in results] == ["sent"]
    assert "No issue has been sent yet" in _index(web)


def test_one_entry_per_issue_the_first_public_sends_page_exactly_as_sent(web) -> None:
    create_list(web.engine, "staff", "Staff", private=True)
    create_list(web.engine, "extra", "Extra")
    web.member("ann@example.org")
    web.member("bob@example.org", slug="staff")
    web.member("cy@example.org", slug="extra")
    private_path = web.workdir / "issues" / "2026-01-01-test.md"
    web.send_issue(_issue("lists: [staff]").replace("lists: [news]\n", ""))
    assert "The test issue subject" not in _index(web)  # the private send published nothing
    web.send_issue()  # the first public send: published
    first = web.client.get("/archive/2026-01-01-test").get_data(as_text=True)
    assert "The body of the first takeaway." in first
    # The file changes and goes to another list: the archive keeps the page as first sent.
    private_path.write_text(ISSUE.replace("first takeaway.", "CHANGED takeaway."), "utf-8")
    web.send_issue(private_path.read_text("utf-8").replace("[news]", "[extra]"))
    again = web.client.get("/archive/2026-01-01-test").get_data(as_text=True)
    assert again == first and "CHANGED" not in again
    assert _index(web).count('href="http://127.0.0.1:8000/archive/2026-01-01-test"') == 1
    feed = ET.fromstring(web.client.get("/archive/feed.atom").get_data())
    assert len(feed.findall(f"{ATOM}entry")) == 1


def test_entries_show_the_issues_date_and_the_feed_a_summary(web) -> None:
    web.member("ann@example.org")
    web.send_issue(_issue("date: 2019-03-01"))
    index = _index(web)
    assert '<time datetime="2019-03-01">Mar 1, 2019</time>' in index
    feed = ET.fromstring(web.client.get("/archive/feed.atom").get_data())
    (entry,) = feed.findall(f"{ATOM}entry")
    assert entry.find(f"{ATOM}summary").text == "What this issue is about"


def test_archive_pages_link_back_to_the_archive_and_to_subscribing(web) -> None:
    web.member("ann@example.org")
    web.send_issue()
    page = web.client.get("/archive/2026-01-01-test").get_data(as_text=True)
    assert 'href="http://127.0.0.1:8000/archive"' in page
    assert 'href="http://127.0.0.1:8000/"' in page
    assert 'href="http://127.0.0.1:8000/"' in _index(web)


def test_the_front_page_has_each_public_lists_form_and_the_archive(web, monkeypatch) -> None:
    create_list(web.engine, "extra", "Extra reading")
    page = web.client.get("/")
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'action="subscribe/news"' in text and 'action="subscribe/extra"' in text
    assert 'href="http://127.0.0.1:8000/archive"' in text
    answer = post_form(web.client, {"email": "new@example.org"}, "/subscribe/extra")
    assert answer.status_code == 200


def _problems(workdir, text: str) -> list[tuple[str, str]]:  # noqa: ANN001
    path = workdir / "issue.md"
    path.write_text(text, encoding="utf-8")
    return [(p.severity, p.message) for p in parse_issue(path)[1]]


def test_check_warns_on_http_images_which_the_archive_blocks(workdir) -> None:
    found = _problems(workdir, _issue(body="![A chart](http://example.org/c.png)\n\n"))
    assert any(
        sev == "warning" and "plain http" in msg and "Content-Security-Policy" in msg
        for sev, msg in found
    ), found


@pytest.mark.parametrize("host", ["localhost:8000", "127.0.0.1", "192.168.1.10", "[::1]"])
def test_local_images_are_a_note_for_preview_and_refused_for_sends(web, host: str) -> None:
    text = _issue(body=f"![A chart](http://{host}/c.png)\n\n")
    found = _problems(web.workdir, text)
    notes = [m for sev, m in found if sev == "warning" and "local address" in m]
    assert notes and "`send` refuses" in notes[0] and not [s for s, _ in found if s == "error"]
    web.member("ann@example.org")
    with pytest.raises(SendError, match="local address.*readers cannot load it"):
        web.send_issue(text)


def test_preview_shows_a_local_image_with_a_note_that_send_refuses_it(workdir) -> None:
    from newsletter.cli.build_cmds import _Preview
    from newsletter.config import Settings

    path = workdir / "2026-01-01-test.md"
    path.write_text(_issue(body="![A chart](http://localhost:8000/c.png)\n\n"), "utf-8")
    state = _Preview(path, Settings())
    note = state.refresh()
    assert note is not None and note.startswith("rebuilt 2026-01-01-test; note: image")
    assert "`send` refuses the issue" in note
    assert 'src="http://localhost:8000/c.png"' in state.pages["/email.html"][1]


def test_a_takeaway_image_on_localhost_is_refused_for_a_send(web) -> None:
    text = ISSUE.replace(
        "Link: https://example.org/first",
        "Link: https://example.org/first\nImage: http://localhost/x.png\nImage-Alt: x",
    )
    web.member("ann@example.org")
    with pytest.raises(SendError, match="image 'http://localhost/x.png' is on localhost"):
        web.send_issue(text)


def test_a_renamed_public_list_keeps_its_issues_published(web) -> None:
    from newsletter.audience.list_edits import rename_list

    web.member("ann@example.org")
    web.send_issue()
    rename_list(web.engine, "news", "the-news")
    assert web.client.get("/archive/2026-01-01-test").status_code == 200
    assert "The test issue subject" in _index(web)
