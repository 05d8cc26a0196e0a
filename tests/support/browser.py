"""Headless Chromium (Debian's /usr/bin/chromium) driven by the Python playwright package, and
axe-core run in a page (`axe_serious`).

Skips only when Chromium or playwright is missing AND NEWSLETTER_TEST_REQUIRE_BROWSER is unset;
with that variable set, a missing browser fails the test instead.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
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
