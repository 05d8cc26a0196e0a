"""Headless Chromium (Debian's /usr/bin/chromium) driven by the Python playwright package, and
axe-core run in a page (`axe_serious`, `axe_contrast`); the colour modes of the dark-mode tests
(`COLOUR_MODES`, `page_in_mode`) and what they measure on screen (`TEXT_BOXES`, `BUTTON_EDGES`).

Skips only when Chromium or playwright is missing AND NEWSLETTER_TEST_REQUIRE_BROWSER is unset;
with that variable set, a missing browser fails the test instead.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest

CHROMIUM = os.environ.get("NEWSLETTER_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
AXE = Path(
    os.environ.get(
        "NEWSLETTER_TEST_AXE", Path.home() / ".cache/email-judges/node_modules/axe-core/axe.min.js"
    )
)


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get("NEWSLETTER_TEST_REQUIRE_BROWSER"):
        pytest.fail(f"NEWSLETTER_TEST_REQUIRE_BROWSER is set but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def chromium() -> Iterator[object]:
    """A launched playwright Browser; every non-file request is aborted (no network)."""
    if not (os.path.exists(CHROMIUM) or shutil.which(CHROMIUM)):
        _unavailable(f"Chromium is not installed at {CHROMIUM} (apt install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is not installed (pip install -e '.[test]')")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def browser_page(chromium):  # type: ignore[no-untyped-def]
    """A fresh page that may load file:// URLs only."""
    context = chromium.new_context()
    context.route(
        "**/*",
        lambda route: route.continue_() if route.request.url.startswith("file:") else route.abort(),
    )
    page = context.new_page()
    yield page
    context.close()


def axe_serious(page: Any) -> list[str]:
    """axe-core's serious and critical violations on the page (skips or fails without axe)."""
    if not AXE.is_file():
        _unavailable(f"axe-core is not at {AXE} (run bash ../shared/judges/setup.sh)")
    page.add_script_tag(content=AXE.read_text(encoding="utf-8"))
    violations = page.evaluate(
        "async () => (await window.axe.run(document, {resultTypes: ['violations']}))"
        ".violations.map(v => ({id: v.id, impact: v.impact, help: v.help}))"
    )
    return [
        f"{v['impact']}: {v['id']}: {v['help']}"
        for v in violations
        if v["impact"] in ("serious", "critical")
    ]


# Chromium's auto dark mode, the repaint Gmail's apps approximate. Alone, the page still sees
# `prefers-color-scheme: light`; with --force-dark-mode the browser also says the reader prefers
# dark. Playwright emulates "light" unless told "no-override", which lets the flags speak.
FORCED_DARK = "--blink-settings=forceDarkModeEnabled=true"
COLOUR_MODES: dict[str, tuple[tuple[str, ...], str]] = {
    "light": ((), "light"),
    "dark": ((), "dark"),  # prefers-color-scheme: dark, emulated
    "forced": ((FORCED_DARK,), "no-override"),
    "forced-os-dark": ((FORCED_DARK, "--force-dark-mode"), "no-override"),
}
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"  # ignored by git

# Every run of visible text on the page: its line boxes in page pixels, whether WCAG calls it
# large, and a label; a preheader (hidden with opacity 0) is skipped. Then each button's edge:
# a pixel of its left border and one just outside it.
TEXT_BOXES = """() => {
  const out = [], walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const text = node.textContent.replace(/[\\s\\u034f\\u200c]+/g, ' ').trim();
    const el = node.parentElement;
    if (text.replace(/[^\\p{L}\\p{N}]/gu, '').length < 3) continue;
    let hidden = false;
    for (let e = el; e; e = e.parentElement) {
      const s = getComputedStyle(e);
      if (s.display === 'none' || s.opacity === '0' || s.visibility === 'hidden') hidden = true;
    }
    if (hidden) continue;
    const range = document.createRange(); range.selectNodeContents(node);
    const boxes = [...range.getClientRects()].filter(r => r.width > 0 && r.height > 0)
      .map(r => [r.left + scrollX, r.top + scrollY, r.width, r.height]);
    const s = getComputedStyle(el), size = parseFloat(s.fontSize), bold = +s.fontWeight >= 700;
    const large = size >= 24 || (size >= 18.66 && bold);
    if (boxes.length) out.push({text: text.slice(0, 40), boxes, large});
  }
  return out;
}"""
BUTTON_EDGES = """() => [...document.querySelectorAll('button')].map(b => {
  const r = b.getBoundingClientRect(), y = r.top + scrollY + r.height / 2;
  const x = r.left + scrollX;
  return {text: b.textContent.trim(), inside: [x + 1, y], outside: [x - 4, y]};
})"""


@pytest.fixture(scope="session")
def chromium_with(chromium: Any) -> Iterator[Callable[[tuple[str, ...]], Any]]:
    """Chromium launched with extra flags (launched once per set of flags, on first use)."""
    launched: dict[tuple[str, ...], Any] = {(): chromium}

    def get(extra: tuple[str, ...]) -> Any:
        if extra not in launched:
            launched[extra] = chromium.browser_type.launch(
                executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, *extra]
            )
        return launched[extra]

    yield get
    for extra, browser in launched.items():
        if extra:
            browser.close()


@contextlib.contextmanager
def page_in_mode(chromium_with: Callable[[tuple[str, ...]], Any], mode: str) -> Iterator[Any]:
    """A fresh page in one of `COLOUR_MODES`; it may load file:// and 127.0.0.1 only (and
    axe-core may be injected: CSP is bypassed)."""
    flags, scheme = COLOUR_MODES[mode]
    context = chromium_with(flags).new_context(color_scheme=scheme, bypass_csp=True)
    local = ("file:", "http://127.0.0.1:")
    context.route(
        "**/*",
        lambda route: route.continue_() if route.request.url.startswith(local) else route.abort(),
    )
    try:
        yield context.new_page()
    finally:
        context.close()


def axe_contrast(page: Any) -> dict[str, list[str]]:
    """axe-core's color-contrast rule alone: its violations, and how many nodes it passed or
    could not decide (`incomplete`: a background it cannot read, such as an image)."""
    if not AXE.is_file():
        _unavailable(f"axe-core is not at {AXE} (run bash ../shared/judges/setup.sh)")
    if not page.evaluate("() => !!window.axe"):
        page.add_script_tag(content=AXE.read_text(encoding="utf-8"))
    return page.evaluate(
        """async () => {
          const r = await window.axe.run(document, {runOnly: ['color-contrast']});
          const nodes = k => r[k].flatMap(v => v.nodes.map(n => n.target.join(' ') + ': ' +
            (n.any.map(a => a.message).join('; '))));
          return {violations: nodes('violations'), passes: nodes('passes'),
                  incomplete: nodes('incomplete')};
        }"""
    )
