"""`newsletter serve` runs the app (development server) on the given host and port."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request

from tests.support.web_server import free_port, server_env


def test_serve_answers_healthz_and_pages(web):
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "newsletter", "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=web.workdir,
        env=server_env(web.settings),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline, status = time.monotonic() + 20, None
        while time.monotonic() < deadline and status is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
                    status = r.status
            except OSError:
                assert proc.poll() is None, proc.stdout.read().decode()
                time.sleep(0.1)
        assert status == 200
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/subscribe", timeout=5) as r:
            assert "Subscribe to The News" in r.read().decode()
            assert r.headers["X-Content-Type-Options"] == "nosniff"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        proc.stdout.close()
