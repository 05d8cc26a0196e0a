"""Fixtures for the web app: an app + test client on a fresh database, a sent issue, a real
server process (gunicorn) on 127.0.0.1 for concurrency tests and the browser, the subscribe
form's helpers, and a signing SendGrid (`hook`)."""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import Engine, select

from newsletter.db import tables
from tests.support.ports import free_port
from tests.support.waiting import wait_until

SECRET = "test-secret-key-0123456789abcdefghijklmnop"
ISSUE = """---
title: A test issue
subject: The test issue subject
preheader: What this issue is about
lists: [news]
---
The intro of the test issue.

## The first takeaway
Speaker: Ada Lovelace
Role: Analyst, Engine Society
Link: https://example.org/first

The body of the first takeaway.
"""


@dataclass
class WebEnv:
    settings: Any
    engine: Engine
    app: Any
    client: Any
    signer: Any
    list: dict
    workdir: Path

    def member(self, email: str, name: str = "", slug: str = "news") -> dict:
        from newsletter.audience.subscribers import add_subscriber

        return add_subscriber(self.engine, email, slug, name=name, source="test")

    def token(self, purpose: str, subscriber_id: int, list_id: int | None = None) -> str:
        return self.signer.make(
            purpose, subscriber_id, self.list["id"] if list_id is None else list_id
        )

    def status(self, subscriber_id: int, list_id: int | None = None) -> str | None:
        m = tables.memberships
        with self.engine.connect() as conn:
            return conn.execute(
                select(m.c.status).where(
                    m.c.subscriber_id == subscriber_id,
                    m.c.list_id == (self.list["id"] if list_id is None else list_id),
                )
            ).scalar()

    def suppressions(self) -> list[tuple]:
        x = tables.suppressions
        with self.engine.connect() as conn:
            return [
                tuple(r)
                for r in conn.execute(
                    select(x.c.email, x.c.list_id, x.c.reason, x.c.source).order_by(x.c.id)
                )
            ]

    def send_issue(
        self, text: str = ISSUE, name: str = "2026-01-01-test", settings: Any = None
    ) -> Any:
        """Send an issue to list 'news' through the outbox; returns the send's Progress."""
        from newsletter.sending.plan import SendOptions, prepare
        from newsletter.sending.send import execute

        settings = settings or self.settings
        path = self.workdir / "issues" / f"{name}.md"
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
        plan = prepare(self.engine, settings, path, SendOptions())
        return execute(self.engine, settings, plan)


def make_settings(workdir: Path, database_url: str, **overrides: Any) -> Any:
    from newsletter.config import Settings

    values = dict(
        secret_key=SECRET,
        database_url=database_url,
        site_url="http://127.0.0.1:8000",
        outbox_dir=str(workdir / "outbox"),
        issues_dir=str(workdir / "issues"),
        default_list="news",
    )
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def web(
    workdir: Path, database_url: str, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> WebEnv:
    """The app on a fresh database with one list, 'news' ("The News"), and a fresh per-client
    limit on the subscribe form (it lives in the process)."""
    from newsletter import tokens
    from newsletter.audience.lists import create_list
    from newsletter.web import create_app
    from newsletter.web import subscribe as subscribe_view

    monkeypatch.setattr(
        subscribe_view, "per_client", subscribe_view.RateLimiter(limit=10, window=600)
    )
    settings = make_settings(workdir, database_url)
    the_list = create_list(engine, "news", "The News")
    app = create_app(settings, engine)
    return WebEnv(
        settings,
        engine,
        app,
        app.test_client(),
        tokens.signer_for(settings, allow_generated=False),
        the_list,
        workdir,
    )


def post_form(client: Any, data: dict, path: str = "/subscribe") -> Any:
    """POST the subscribe form the way a server does: answer, then close the response, which
    runs the work put off until after the answer."""
    response = client.post(path, data=data)
    response.get_data()
    response.close()
    return response


def outbox_mails(web: WebEnv, to: str) -> list[Any]:
    """The messages in the outbox addressed to `to`, oldest first."""
    from email import policy
    from email.parser import BytesParser

    out = []
    paths = (Path(web.settings.outbox_dir) / "new").glob("*.eml")
    for path in sorted(paths, key=lambda p: (p.stat().st_mtime_ns, p.name)):
        msg = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
        if msg["To"].addresses[0].addr_spec == to:
            out.append(msg)
    return out


def confirm_path(msg: Any) -> str:
    """The path of the confirmation link in a confirmation mail."""
    import re
    from urllib.parse import urlsplit

    text = msg.get_body(("plain",)).get_content()
    found = re.search(r"https?://\S+/confirm/\S+", text)
    assert found, "no confirmation link in the mail"
    return urlsplit(found.group(0)).path


def server_env(settings: Any) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("NEWSLETTER_") and k != "DATABASE_URL"
    }
    env.update(
        PYTHONPATH=str(Path(__file__).resolve().parents[2]),  # the code under test, not an install
        DATABASE_URL=settings.database_url,
        NEWSLETTER_SECRET_KEY=settings.secret_key,
        NEWSLETTER_SITE_URL=settings.site_url,
        NEWSLETTER_OUTBOX_DIR=settings.outbox_dir,
        NEWSLETTER_ISSUES_DIR=settings.issues_dir,
        NEWSLETTER_DEFAULT_LIST=settings.default_list,
    )
    if settings.sendgrid_webhook_public_key:
        env["NEWSLETTER_SENDGRID_WEBHOOK_PUBLIC_KEY"] = settings.sendgrid_webhook_public_key
    return env


def start_gunicorn(
    settings: Any,
    cwd: Path,
    *,
    workers: int = 2,
    threads: int = 8,
    port: int | None = None,
    options: tuple[str, ...] = (),
) -> tuple[subprocess.Popen, str]:
    """`gunicorn 'newsletter.web:create_app()'` on 127.0.0.1 (with more of gunicorn's
    `options`); returns (process, base URL)."""
    port = port or free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--workers",
            str(workers),
            "--threads",
            str(threads),
            "--worker-class",
            "gthread",
            "--bind",
            f"127.0.0.1:{port}",
            "--backlog",
            "2048",
            "--log-level",
            "warning",
            *options,
            "newsletter.web:create_app()",
        ],
        cwd=cwd,
        env=server_env(settings),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_health(base, proc, "gunicorn")
    except BaseException:
        stop(proc)
        raise
    return proc, base


def wait_for_health(base: str, proc: subprocess.Popen, what: str, timeout: float = 60) -> None:
    """Until the server `proc` answers `base`/healthz with 200; if it exits first, fail at once
    with its output."""

    def healthy() -> bool:
        if proc.poll() is not None:
            out = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
            raise RuntimeError(f"{what} exited with {proc.returncode}:\n{out}")
        with urllib.request.urlopen(base + "/healthz", timeout=1) as r:
            return r.status == 200

    wait_until(
        healthy, timeout, what=f"{what} to answer {base}/healthz", ignore=(OSError,), interval=0.1
    )


def drain_output(proc: subprocess.Popen, keep: int = 200) -> deque[bytes]:
    """Read the server's output as it comes, keeping its last `keep` lines: a test that makes
    it log a lot (one line per 503 while the database is away) would otherwise fill the pipe,
    and a server that cannot write its log stops answering."""
    lines: deque[bytes] = deque(maxlen=keep)

    def read() -> None:
        if proc.stdout is not None:
            with contextlib.suppress(ValueError, OSError):  # closed by `stop`
                for line in proc.stdout:
                    lines.append(line)

    threading.Thread(target=read, daemon=True).start()
    return lines


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    if proc.stdout:
        proc.stdout.close()


@pytest.fixture
def live_server(web: WebEnv) -> Iterator[Callable[..., str]]:
    """Start the real server (gunicorn) for `web`'s database; returns its base URL."""
    procs: list[subprocess.Popen] = []

    def start(settings: Any = None, **kwargs: Any) -> str:
        proc, base = start_gunicorn(settings or web.settings, web.workdir, **kwargs)
        procs.append(proc)
        return base

    yield start
    for proc in procs:
        stop(proc)


class Hook:
    """Signs and posts SendGrid event batches to the app, as SendGrid does."""

    def __init__(self, web: WebEnv) -> None:
        from newsletter.web import create_app

        self._key = ec.generate_private_key(ec.SECP256R1())
        der = self._key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        settings = dataclasses.replace(
            web.settings, sendgrid_webhook_public_key=base64.b64encode(der).decode()
        )
        self.client = create_app(settings, web.engine).test_client()

    def sign(self, body: bytes, timestamp: str) -> str:
        signature = self._key.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
        return base64.b64encode(signature).decode()

    def post(self, events: Any, *, timestamp: str | None = None, signature: str | None = None,
             body: bytes | None = None) -> Any:  # fmt: skip
        from newsletter.web.webhook_signature import SIGNATURE_HEADER, TIMESTAMP_HEADER

        body = json.dumps(events).encode() if body is None else body
        timestamp = str(int(time.time())) if timestamp is None else timestamp
        signature = signature or self.sign(body, timestamp)
        headers = {TIMESTAMP_HEADER: timestamp, SIGNATURE_HEADER: signature}
        return self.client.post(
            "/webhooks/sendgrid", data=body, headers=headers, content_type="application/json"
        )


@pytest.fixture
def hook(web: WebEnv) -> Hook:
    """`web` with a webhook key pair generated here; `hook.post(events)` signs and posts."""
    return Hook(web)
