"""The sample email and the subscriber pages in real headless Chromium, in three colour modes
(issue 27, point 4), at 375 and 700 px:

- light, and `prefers-color-scheme: dark` emulated: axe-core's `color-contrast` rule finds no
  violation (it reads the styles, so it sees our own dark palette);
- Chromium's forced dark mode (`--blink-settings=forceDarkModeEnabled=true`), which repaints
  the page as Gmail's apps do, alone ("forced") and with `--force-dark-mode` ("forced-os-dark"),
  where the browser also tells pages that the reader prefers dark. Axe cannot see a repaint, so
  contrast is measured on the screenshot: every run of text against its background, and each
  button's edge against what surrounds it.

What Blink does with a page that declares dark support (`color-scheme: light dark`): when the
page is told the reader prefers dark ("forced-os-dark"), Blink does not auto-darken it at all
and shows the page's own dark palette, pixel for pixel what the emulated dark mode shows. When
the page is told light ("forced"), Blink repaints the light palette with its own inversion,
exactly as it repaints a page that declares nothing. Both are tested below.

Mean luma (Pillow's greyscale mean, 0-1) of each full-page screenshot: above 0.6 in light,
below 0.35 in the dark modes. The screenshots are kept in tests/artifacts/dark/ (ignored by
git), named page-mode-width.png.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from newsletter.authoring.issue_file import read_issue
from newsletter.authoring.render import render_issue
from newsletter.config import Settings
from tests.support.browser import (
    ARTIFACTS,
    BUTTON_EDGES,
    COLOUR_MODES,
    TEXT_BOXES,
    axe_contrast,
    page_in_mode,
)
from tests.support.contrast import AA_LARGE, AA_TEXT, mean_luma, pixel_contrast, ratio

SAMPLE = Path(__file__).resolve().parent.parent / "issues" / "2019-03-01-hanoi-summit.md"
SHOTS = ARTIFACTS / "dark"
WIDTHS = (375, 700)

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def email_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("dark") / "email.html"
    path.write_text(render_issue(read_issue(SAMPLE), Settings()).html, encoding="utf-8")
    return path


def _shoot(page: Any, name: str, mode: str, width: int) -> bytes:
    """A full-page screenshot at `width`, kept as an artefact; returns the PNG."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size({"width": width, "height": 800})
    return page.screenshot(path=SHOTS / f"{name}-{mode}-{width}.png", full_page=True)


def _luma_holds(png: bytes, mode: str) -> bool:
    luma = mean_luma(png)
    return luma > 0.6 if mode == "light" else luma < 0.35


def _screen_contrast(page: Any, png: bytes) -> list[str]:
    """Text and button edges under WCAG AA, measured on the screenshot's pixels."""
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    texts = page.evaluate(TEXT_BOXES)
    assert len(texts) >= 4
    low = []
    for t in texts:
        measured = pixel_contrast(image, t["boxes"])
        if measured < (AA_LARGE if t["large"] else AA_TEXT):
            low.append(f"text {t['text']!r}: {measured:.2f}")
    for edge in page.evaluate(BUTTON_EDGES):
        inside = image.getpixel(tuple(int(v) for v in edge["inside"]))
        outside = image.getpixel(tuple(int(v) for v in edge["outside"]))
        if ratio(inside, outside) < AA_LARGE:
            low.append(f"edge of button {edge['text']!r}: {ratio(inside, outside):.2f}")
    return low


def _check_mode(page: Any, name: str, mode: str, width: int) -> list[str]:
    """Everything wrong with the loaded page in `mode` at `width` (empty when all holds)."""
    png = _shoot(page, name, mode, width)
    wrong = [] if _luma_holds(png, mode) else [f"mean luma {mean_luma(png):.3f} in {mode}"]
    if mode in ("light", "dark"):
        found = axe_contrast(page)
        assert found["passes"], "axe checked no text at all"
        wrong += [f"axe: {v}" for v in found["violations"]]
    else:
        wrong += _screen_contrast(page, png)
    return [f"{name} {mode} {width}px: {w}" for w in wrong]


@pytest.mark.parametrize("mode", list(COLOUR_MODES))
def test_sample_email_in_each_colour_mode(chromium_with, email_file, mode):
    with page_in_mode(chromium_with, mode) as page:
        page.goto(email_file.as_uri())
        prefers_dark = page.evaluate("matchMedia('(prefers-color-scheme: dark)').matches")
        assert prefers_dark is (mode in ("dark", "forced-os-dark"))
        wrong = [w for width in WIDTHS for w in _check_mode(page, "email", mode, width)]
    assert wrong == []


def _pixels(chromium_with: Any, url: str, mode: str) -> bytes:
    with page_in_mode(chromium_with, mode) as page:
        page.set_viewport_size({"width": 700, "height": 800})
        page.goto(url)
        return page.screenshot(full_page=True)


def test_blink_keeps_our_dark_palette_and_repaints_only_the_light_one(chromium_with, email_file):
    """With the reader's dark preference, forced dark shows exactly our own dark palette; with
    a light preference it repaints the light palette (darker than light, unlike our dark)."""
    url = email_file.as_uri()
    shots = {mode: _pixels(chromium_with, url, mode) for mode in COLOUR_MODES}
    assert shots["forced-os-dark"] == shots["dark"]
    assert shots["forced"] not in (shots["light"], shots["dark"])
    assert mean_luma(shots["forced"]) < 0.35 < 0.6 < mean_luma(shots["light"])


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_subscriber_pages_in_each_colour_mode(web, live_server, chromium_with):
    from newsletter.audience.subscribers import add_subscriber

    ann = web.member("ann@example.org", "Ann")
    bea = add_subscriber(web.engine, "bea@example.org", "news", status="unconfirmed")
    base = live_server()
    pages = {
        "subscribe": "/subscribe",
        "unsubscribe": f"/unsubscribe/{web.token('unsubscribe', ann['id'])}",
        "preferences": f"/preferences/{web.token('preferences', ann['id'], 0)}",
        "confirm": f"/confirm/{web.signer.make_confirm(bea['id'], web.list['id'])}",
    }
    wrong = []
    for mode in COLOUR_MODES:
        with page_in_mode(chromium_with, mode) as page:
            for name, path in pages.items():
                assert page.goto(base + path).status == 200
                for width in WIDTHS:
                    wrong += _check_mode(page, name, mode, width)
    assert wrong == []
    assert web.status(ann["id"]) == "subscribed"  # looking changed nothing
    assert web.status(bea["id"]) == "unconfirmed"
