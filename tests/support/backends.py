"""Delivery backends built the way the tests need them: settings from a few environment values
only (no project file, no developer configuration), quick retries and short timeouts, so a
test about a failure does not wait out production's patience."""

from __future__ import annotations

from pathlib import Path

from newsletter.config import load_settings
from newsletter.sending.delivery.sendgrid import SendGridBackend
from newsletter.sending.delivery.smtp import SMTPBackend

_NO_PROJECT = Path(__file__).parent  # a folder without newsletter.toml


def sendgrid_backend(
    url: str = "https://api.sendgrid.com",
    key: str = "SG.test-key",
    per_request: int = 1000,
    **env: str,
) -> SendGridBackend:
    """A SendGrid backend posting to `url` (the stand-in's), 4 attempts, 10 ms backoff, a 10 s
    timeout (the stand-in answers in well under a second, even on a loaded machine)."""
    settings = load_settings(
        cwd=_NO_PROJECT,
        env={
            "NEWSLETTER_SENDGRID_API_HOST": url,
            "SENDGRID_API_KEY": key,
            "NEWSLETTER_SENDGRID_TIMEOUT": "10",
            **env,
        },
    )
    return SendGridBackend(settings, max_attempts=4, backoff=0.01, per_request=per_request)


def smtp_backend(port: int, connections: int = 4, **env: str) -> SMTPBackend:
    """An SMTP backend for the relay on 127.0.0.1:`port`, 4 attempts, 10 ms backoff."""
    settings = load_settings(
        cwd=_NO_PROJECT,
        env={
            "NEWSLETTER_SMTP_HOST": "127.0.0.1",
            "NEWSLETTER_SMTP_PORT": str(port),
            "NEWSLETTER_SMTP_CONNECTIONS": str(connections),
            "NEWSLETTER_SMTP_TIMEOUT": "5",
            **env,
        },
    )
    return SMTPBackend(settings, max_attempts=4, backoff=0.01)
