"""The `Settings` dataclass: every setting, its type and its default, in one place; and which
of them are secrets (environment only)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields

# Secrets: setting name -> environment variable. Never from the file.
SECRET_ENV = {
    "database_url": "DATABASE_URL",
    "sendgrid_api_key": "SENDGRID_API_KEY",
    "secret_key": "NEWSLETTER_SECRET_KEY",
    "old_secret_keys": "NEWSLETTER_OLD_SECRET_KEYS",  # comma-separated, accepted for verification
    "smtp_password": "NEWSLETTER_SMTP_PASSWORD",
    "sendgrid_webhook_public_key": "NEWSLETTER_SENDGRID_WEBHOOK_PUBLIC_KEY",
    "imap_password": "NEWSLETTER_IMAP_PASSWORD",
    "dkim_private_key": "NEWSLETTER_DKIM_PRIVATE_KEY",  # PEM (both keys for dkim_algorithm both)
}

DKIM_ALGORITHMS = ("rsa-sha256", "ed25519-sha256", "both")


@dataclass(frozen=True)
class Settings:
    # Site and sender
    site_url: str = "http://127.0.0.1:8000"
    sender_name: str = "Newsletter"
    sender_address: str = "newsletter@example.com"
    reply_to: str = ""
    postal_address: str = "Newsletter, 1 Example Street, 00000 Example City"
    language: str = "en"
    default_list: str = "newsletter"
    unsubscribe_mailto: str = ""  # default: unsubscribe@<sender domain>
    # Folders (relative to the working directory)
    issues_dir: str = "issues"
    output_dir: str = "dist"
    templates_dir: str = "templates"
    outbox_dir: str = "outbox"
    sequences_dir: str = "sequences"  # one folder per sequence (welcome mails, follow-ups)
    # Sending
    backend: str = "outbox"  # one of models.BACKENDS
    batch_size: int = 1000  # SendGrid's maximum per request
    rate: float = 0.0  # messages per second, 0 = as fast as possible
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_username: str = ""
    smtp_security: str = "none"  # none | starttls | tls
    smtp_connections: int = 40  # measured: see README, Sending across a network
    smtp_timeout: float = 30.0
    outage_timeout: float = 600.0  # seconds a send waits out a relay that refuses all mail
    stop_timeout: float = 30.0  # seconds a stopping send waits for answers on the network
    db_outage_timeout: float = 120.0  # seconds a send waits out its database gone (PostgreSQL)
    state_dir: str = ""  # journals of results not recorded; "" = beside the SQLite file, else .
    sendgrid_api_host: str = "https://api.sendgrid.com"
    sendgrid_timeout: float = 30.0
    sendgrid_concurrency: int = 8  # requests in flight per worker process (measured)
    sendgrid_keepalive: float = 15.0  # reopen a connection idle longer than this (seconds)
    send_workers_max: int = 4  # worker processes a large send starts: one per core, capped
    send_workers_from: int = 40_000  # audience size from which a send uses several processes
    smtp_ca_file: str = ""  # PEM: a private CA or self-signed relay certificate to trust
    # DKIM signing (smtp and outbox backends; SendGrid signs with its own domain setup)
    dkim_selector: str = ""  # "" = no signing (with dkim_algorithm both: the two below)
    dkim_selector_rsa: str = ""  # dkim_algorithm both: the RSA signature's selector
    dkim_selector_ed25519: str = ""  # dkim_algorithm both: the Ed25519 signature's selector
    dkim_domain: str = ""  # d= of the signature; default: each message's From domain
    dkim_algorithm: str = "rsa-sha256"  # rsa-sha256 | ed25519-sha256 | both
    dkim_private_key_file: str = ""  # PEM file readable only by its owner (else the env key)
    # Checking the domain (`newsletter doctor`)
    dns_resolver: str = ""  # "" = the system's; else "ADDRESS" or "ADDRESS:PORT"
    # Subscribers
    unconfirmed_days: int = 30  # never-confirmed subscribers are erased after this (prune)
    # Mail that comes back (`newsletter mailbox`)
    bounce_address: str = ""  # default: bounces@<sender domain>; "off": MAIL FROM is From
    soft_bounce_limit: int = 3  # soft bounces, from different sends, that suppress an address
    soft_bounce_days: int = 30  # ... counted within this many days
    imap_ca_file: str = ""  # PEM file of the CA that signed a private IMAP server's certificate
    # Scheduling
    max_late: str = "24h"
    # Web app
    web_host: str = "127.0.0.1"
    web_port: int = 8000
    web_trusted_proxies: int = 0  # reverse proxies in front of the app (X-Forwarded-For hops)
    # Engagement tracking (newsletter/tracking): our own redirect and pixel, judged on arrival
    track_clicks: bool = True
    track_opens: bool = True
    tracking_scanner_window: int = 60  # seconds around a trap-link hit that count as machine
    tracking_retention_months: int = 13  # then only per-send and per-link totals remain
    # Secrets (environment only)
    database_url: str = ""
    sendgrid_api_key: str = ""
    secret_key: str = ""
    old_secret_keys: str = ""
    smtp_password: str = ""
    sendgrid_webhook_public_key: str = ""
    imap_password: str = ""
    dkim_private_key: str = ""
    # Where each value came from: "default", the config file path, or "env NAME".
    sources: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)
    # One line each, for the CLI to print: unknown NEWSLETTER_* variables (likely typos).
    warnings: tuple[str, ...] = field(default=(), compare=False, repr=False)

    @property
    def effective_database_url(self) -> str:
        return self.database_url or "sqlite:///newsletter.db"

    @property
    def effective_state_dir(self) -> str:
        """Where a worker's journal goes: `state_dir`, else the SQLite file's folder, else the
        working directory."""
        if self.state_dir:
            return self.state_dir
        url = self.effective_database_url
        if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
            return os.path.dirname(url[len("sqlite:///") :]) or "."
        return "."

    @property
    def sender_domain(self) -> str:
        return self.sender_address.rpartition("@")[2] or "localhost"

    @property
    def effective_unsubscribe_mailto(self) -> str:
        return self.unsubscribe_mailto or f"unsubscribe@{self.sender_domain}"

    @property
    def effective_bounce_address(self) -> str:
        """The VERP base of SMTP return paths ("" when switched off)."""
        if self.bounce_address.strip().lower() == "off":
            return ""
        return self.bounce_address.strip() or f"bounces@{self.sender_domain}"

    @property
    def dkim_enabled(self) -> bool:
        """DKIM signing is asked for: a selector, or a key, is set."""
        return bool(
            self.dkim_selector
            or self.dkim_selector_rsa
            or self.dkim_selector_ed25519
            or self.dkim_private_key
            or self.dkim_private_key_file
        )

    def defaults_used(self) -> list[str]:
        return [k for k, v in self.sources.items() if v == "default"]


def setting_fields() -> dict[str, type]:
    """Each setting's name and type (the two bookkeeping fields left out)."""
    hints: dict[object, type] = {"str": str, "int": int, "float": float, "bool": bool}
    return {
        f.name: hints[f.type] for f in fields(Settings) if f.name not in ("sources", "warnings")
    }
