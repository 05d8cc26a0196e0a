"""The SMTP backend as the SMTP tests build it: settings from the environment a test gives,
pointed at a local server, with short backoffs so retries take milliseconds."""

from __future__ import annotations

from pathlib import Path

from newsletter.config import load_settings
from newsletter.sending.delivery.smtp import SMTPBackend

HERE = Path(__file__).resolve().parent


def smtp_backend(port: int, connections: int = 4, **env: str) -> SMTPBackend:
    """An SMTP backend for 127.0.0.1:`port`; `env` adds NEWSLETTER_* settings."""
    settings = load_settings(
        cwd=HERE,
        env={
            "NEWSLETTER_SMTP_HOST": "127.0.0.1",
            "NEWSLETTER_SMTP_PORT": str(port),
            "NEWSLETTER_SMTP_CONNECTIONS": str(connections),
            "NEWSLETTER_SMTP_TIMEOUT": "5",
            **env,
        },
    )
    return SMTPBackend(settings, max_attempts=4, backoff=0.01)
