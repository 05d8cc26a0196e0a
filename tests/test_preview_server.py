"""`newsletter preview` as a real process: serves the email on 127.0.0.1, switches between
desktop and mobile width in a real browser, and shows an edit without a restart."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.support.ports import free_port
from tests.support.sending import cli_environment
from tests.support.waiting import wait_until

SAMPLE = Path(__file__).resolve().parent.parent / "issues" / "2019-03-01-hanoi-summit.md"


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as r:
        return r.read().decode()


@pytest.fixture
def preview(workdir: Path):  # type: ignore[no-untyped-def]
    (workdir / "issues").mkdir()
    path = Path(shutil.copy(SAMPLE, workdir / "issues" / SAMPLE.name))
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "newsletter", "preview", str(path), "--port", str(port)],
        cwd=workdir,
        env=cli_environment({}),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: "iframe" in _get(base + "/"), what="the preview page", ignore=(OSError,))
        yield base, path
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_preview_serves_the_email_and_shows_an_edit_without_restart(preview):
    base, path = preview
    assert "The groundwork was never done" in _get(base + "/email.html")
    assert "Hi Sample Reader," in _get(base + "/email.html")
    assert _get(base + "/email.txt").count("\n") > 10
    version = _get(base + "/version")
    path.write_text(
        path.read_text().replace(
            "## The groundwork was never done", "## The groundwork was skipped entirely"
        )
    )
    os.utime(path, ns=(1, time.time_ns() + 10**9))
    wait_until(lambda: _get(base + "/version") != version, what="a rebuild", ignore=(OSError,))
    assert "The groundwork was skipped entirely" in _get(base + "/email.html")


def test_preview_width_switch_in_chromium(preview, chromium):
    base, _ = preview
    context = chromium.new_context(viewport={"width": 1200, "height": 900})
    try:
        page = context.new_page()
        page.goto(base + "/")
        frame = page.locator("iframe")
        assert frame.bounding_box()["width"] == 700
        page.get_by_role("button", name="Mobile (375 px)").click()
        assert frame.bounding_box()["width"] == 375
        inner = page.frame_locator("iframe")
        assert "The groundwork was never done" in inner.locator("body").inner_text()
        page.get_by_role("button", name="Desktop (700 px)").click()
        assert frame.bounding_box()["width"] == 700
    finally:
        context.close()
