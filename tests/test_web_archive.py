"""The archive: index, issue pages, Atom feed, static export; healthz; the import rule."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET

from click.testing import CliRunner

from newsletter.cli import cli
from newsletter.web.static_archive import write_archive

ATOM = "{http://www.w3.org/2005/Atom}"


def test_archive_lists_sent_issues_with_pages_and_a_feed(web):
    assert "No issue has been sent yet" in web.client.get("/archive").get_data(as_text=True)
    web.member("ann@example.org")
    web.send_issue()
    index = web.client.get("/archive").get_data(as_text=True)
    assert "The test issue subject" in index
    assert 'href="http://127.0.0.1:8000/archive/2026-01-01-test"' in index
    page = web.client.get("/archive/2026-01-01-test")
    assert page.status_code == 200 and "The first takeaway" in page.get_data(as_text=True)
    assert "__NL_" not in page.get_data(as_text=True)
    feed = web.client.get("/archive/feed.atom")
    assert feed.mimetype == "application/atom+xml"
    root = ET.fromstring(feed.get_data())
    entries = root.findall(f"{ATOM}entry")
    assert [e.find(f"{ATOM}title").text for e in entries] == ["The test issue subject"]


def test_unsent_or_odd_issue_ids_get_the_neutral_404(web):
    neutral = web.client.get("/nothing-here").get_data()
    for path in ("/archive/never-sent", "/archive/..%2F..%2Fetc%2Fpasswd", "/archive/%00"):
        response = web.client.get(path)
        assert response.status_code == 404 and response.get_data() == neutral


def test_archive_page_survives_a_deleted_issue_file(web):
    web.member("ann@example.org")
    web.send_issue()
    (web.workdir / "issues" / "2026-01-01-test.md").unlink()
    page = web.client.get("/archive/2026-01-01-test").get_data(as_text=True)
    assert "The first takeaway" in page and "__NL_" not in page


def test_static_archive_export(web, monkeypatch):
    web.member("ann@example.org")
    web.send_issue()
    files = write_archive(web.settings, web.engine, web.workdir / "site")
    names = sorted(p.relative_to(web.workdir / "site").as_posix() for p in files)
    assert names == ["2026-01-01-test/index.html", "feed.atom", "index.html"]
    assert "The first takeaway" in (web.workdir / "site/2026-01-01-test/index.html").read_text()
    monkeypatch.setenv("DATABASE_URL", web.settings.database_url)
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", web.settings.secret_key)
    monkeypatch.setenv("NEWSLETTER_ISSUES_DIR", web.settings.issues_dir)
    result = CliRunner().invoke(cli, ["archive", "--out", str(web.workdir / "cli-site")])
    assert result.exit_code == 0, result.output
    assert "wrote 3 files" in result.output


def test_healthz(web):
    response = web.client.get("/healthz")
    assert response.status_code == 200 and response.get_json() == {"status": "ok"}


def test_the_web_app_never_loads_the_send_engine():
    """Web workers answer one-click unsubscribes; the batch loop and send planning are not
    theirs to load (the archive and provider events live in `sending` but stand alone)."""
    code = (
        "import sys, newsletter.web; newsletter.web.create_app; "
        "print(sorted(m for m in sys.modules if m in ('newsletter.sending.send', "
        "'newsletter.sending.batches', 'newsletter.sending.plan', 'newsletter.cli')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
