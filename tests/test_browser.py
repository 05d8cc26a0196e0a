"""The built email in real headless Chromium: one column at 375 px, ~600 px centred at 700 px."""

from __future__ import annotations

from pathlib import Path

import pytest

from newsletter.authoring.issue_file import read_issue
from newsletter.authoring.render import render_issue
from newsletter.config import Settings

SAMPLE = Path(__file__).resolve().parent.parent / "issues" / "2019-03-01-hanoi-summit.md"

pytestmark = pytest.mark.browser

# The MJML body wrapper: the div that carries max-width:600px for every section.
_COLUMN_BOXES = """() => [...document.querySelectorAll('div[style*="max-width:600px"]')]
  .map(e => { const r = e.getBoundingClientRect(); return [r.left, r.width]; })"""


@pytest.fixture(scope="module")
def email_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("browser") / "email.html"
    path.write_text(render_issue(read_issue(SAMPLE), Settings()).html, encoding="utf-8")
    return path


def test_mobile_375_has_no_horizontal_overflow(browser_page, email_file):
    browser_page.set_viewport_size({"width": 375, "height": 800})
    browser_page.goto(email_file.as_uri())
    assert browser_page.evaluate("document.documentElement.scrollWidth") <= 375
    assert browser_page.evaluate("document.body.scrollWidth") <= 375
    boxes = browser_page.evaluate(_COLUMN_BOXES)
    assert boxes and all(left >= 0 and left + width <= 375 for left, width in boxes)


def test_desktop_700_shows_a_centred_600px_column(browser_page, email_file):
    browser_page.set_viewport_size({"width": 700, "height": 900})
    browser_page.goto(email_file.as_uri())
    boxes = browser_page.evaluate(_COLUMN_BOXES)
    assert len(boxes) >= 5  # header, intro, one per takeaway, footer
    for left, width in boxes:
        assert 590 <= width <= 610
        assert abs(left - (700 - width) / 2) <= 2  # centred
    # the takeaways share one column: their text blocks start at the same x
    lefts = browser_page.evaluate(
        "() => [...document.querySelectorAll('h2')].map(h => h.getBoundingClientRect().left)"
    )
    assert len(set(round(x) for x in lefts)) == 1
