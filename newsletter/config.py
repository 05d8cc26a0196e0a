"""Settings: every default in one place; `newsletter.toml`, then `NEWSLETTER_<KEY>` env overrides.

Secrets come only from the environment, under their conventional names, and are never read
from the file (a secret in `newsletter.toml` is an error, so it cannot be committed by accident).
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

from newsletter.errors import ConfigError, did_you_mean

CONFIG_FILE = "newsletter.toml"

# Secrets: setting name -> environment variable. Never from the file.
SECRET_ENV = {
    "database_url": "DATABASE_URL",
    "sendgrid_api_key": "SENDGRID_API_KEY",
    "secret_key": "NEWSLETTER_SECRET_KEY",
    "old_secret_keys": "NEWSLETTER_OLD_SECRET_KEYS",  # comma-separated, accepted for verification
    "smtp_password": "NEWSLETTER_SMTP_PASSWORD",
    "sendgrid_webhook_public_key": "NEWSLETTER_SENDGRID_WEBHOOK_PUBLIC_KEY",
    "imap_password": "NEWSLETTER_IMAP_PASSWORD",
}

BACKENDS = ("outbox", "smtp", "sendgrid")  # sending/delivery.make_backend opens each


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
    # Sending
    backend: str = "outbox"  # one of BACKENDS
    batch_size: int = 1000  # SendGrid's maximum per request
    rate: float = 0.0  # messages per second, 0 = as fast as possible
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_username: str = ""
    smtp_security: str = "none"  # none | starttls | tls
    smtp_connections: int = 40  # measured: see README, Sending across a network
    smtp_timeout: float = 30.0
    sendgrid_api_host: str = "https://api.sendgrid.com"
    sendgrid_timeout: float = 30.0
    sendgrid_concurrency: int = 8  # requests in flight per worker process (measured)
    sendgrid_keepalive: float = 15.0  # reopen a connection idle longer than this (seconds)
    send_workers_max: int = 4  # worker processes a large send starts: one per core, capped
    send_workers_from: int = 40_000  # audience size from which a send uses several processes
    smtp_ca_file: str = ""  # PEM: a private CA or self-signed relay certificate to trust
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
    # Where each value came from: "default", the config file path, or "env NAME".
    sources: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)
    # One line each, for the CLI to print: unknown NEWSLETTER_* variables (likely typos).
    warnings: tuple[str, ...] = field(default=(), compare=False, repr=False)

    @property
    def effective_database_url(self) -> str:
        return self.database_url or "sqlite:///newsletter.db"

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

    def defaults_used(self) -> list[str]:
        return [k for k, v in self.sources.items() if v == "default"]


def _setting_fields() -> dict[str, type]:
    hints: dict[object, type] = {"str": str, "int": int, "float": float, "bool": bool}
    return {
        f.name: hints[f.type] for f in fields(Settings) if f.name not in ("sources", "warnings")
    }


_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")


def _coerce(name: str, raw: object, kind: type, where: str) -> object:
    if kind is bool:  # TOML true/false, or the words an environment variable can hold
        if isinstance(raw, bool):
            return raw
        word = str(raw).strip().lower()
        if word in _TRUE or word in _FALSE:
            return word in _TRUE
        raise ConfigError(f"{where}: '{name}' must be true or false, got {raw!r}")
    if kind is str:
        if not isinstance(raw, str):
            raise ConfigError(f"{where}: '{name}' must be text, got {raw!r}")
        return raw
    try:
        if isinstance(raw, bool):
            raise ValueError
        return kind(raw)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: '{name}' must be a number, got {raw!r}") from None


def load_settings(
    config_path: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    *,
    cwd: str | os.PathLike[str] | None = None,
) -> Settings:
    """Defaults, then the config file (if any), then `NEWSLETTER_*` environment overrides.
    Without `config_path`, `newsletter.toml` is looked for in `cwd` (default: the current
    working directory)."""
    env = os.environ if env is None else env
    kinds = _setting_fields()
    values: dict[str, Any] = {}  # each coerced to its field's type by _coerce
    sources = {name: "default" for name in kinds}

    path = Path(config_path) if config_path else Path(cwd or Path.cwd()) / CONFIG_FILE
    if config_path and not path.is_file():
        raise ConfigError(f"{path}: config file not found (check --config)")
    if path.is_file():
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from None
        for key, raw in data.items():
            if key in SECRET_ENV:
                raise ConfigError(
                    f"{path}: '{key}' is a secret; remove it from the file and set "
                    f"{SECRET_ENV[key]} in the environment instead"
                )
            if key not in kinds:
                raise ConfigError(f"{path}: unknown setting '{key}'{did_you_mean(key, kinds)}")
            values[key] = _coerce(key, raw, kinds[key], str(path))
            sources[key] = str(path)

    for name, kind in kinds.items():
        var = SECRET_ENV.get(name) or f"NEWSLETTER_{name.upper()}"
        if var in env and env[var] != "":
            values[name] = _coerce(name, env[var], kind, f"environment {var}")
            sources[name] = f"env {var}"

    settings = replace(Settings(sources=sources, warnings=_unknown_env(env, kinds)), **values)
    _validate(settings)
    return settings


# Not settings: the test harness's switches and the crash-test hooks of the send engine.
_NOT_SETTINGS_PREFIX = "NEWSLETTER_TEST_"


def _unknown_env(env: Mapping[str, str], kinds: Mapping[str, type]) -> tuple[str, ...]:
    """A warning for each `NEWSLETTER_*` variable that is no setting, with the closest variable
    (compared without the common prefix, so NEWSLETTER_DATABASE_URL suggests DATABASE_URL)."""
    known = [SECRET_ENV.get(name) or f"NEWSLETTER_{name.upper()}" for name in kinds]
    out = []
    for var in sorted(env):
        if not var.startswith("NEWSLETTER_") or var.startswith(_NOT_SETTINGS_PREFIX):
            continue
        if var in known:
            continue
        hint = did_you_mean(var, known, compared=_without_prefix)
        out.append(f"environment variable {var} is not a setting; it is ignored{hint}")
    return tuple(out)


def _without_prefix(var: str) -> str:
    return var.removeprefix("NEWSLETTER_").lower()


def _validate(s: Settings) -> None:
    where = s.sources
    if s.backend not in BACKENDS:
        raise ConfigError(f"{where['backend']}: backend must be one of {', '.join(BACKENDS)}")
    if s.smtp_security not in ("none", "starttls", "tls"):
        raise ConfigError(f"{where['smtp_security']}: smtp_security must be none, starttls or tls")
    if s.batch_size < 1 or s.batch_size > 1000:
        raise ConfigError(f"{where['batch_size']}: batch_size must be between 1 and 1000")
    if s.smtp_connections < 1:
        raise ConfigError(f"{where['smtp_connections']}: smtp_connections must be at least 1")
    if not 1 <= s.sendgrid_concurrency <= 64:
        raise ConfigError(
            f"{where['sendgrid_concurrency']}: sendgrid_concurrency must be between 1 and 64"
        )
    if s.sendgrid_keepalive <= 0:
        raise ConfigError(f"{where['sendgrid_keepalive']}: sendgrid_keepalive must be positive")
    if not 1 <= s.send_workers_max <= 32:
        raise ConfigError(f"{where['send_workers_max']}: send_workers_max must be between 1 and 32")
    if s.send_workers_from < 1:
        raise ConfigError(f"{where['send_workers_from']}: send_workers_from must be at least 1")
    if not 1 <= s.tracking_scanner_window <= 3600:
        raise ConfigError(
            f"{where['tracking_scanner_window']}: tracking_scanner_window must be between 1 "
            "and 3600 seconds"
        )
    if s.tracking_retention_months < 1:
        raise ConfigError(
            f"{where['tracking_retention_months']}: tracking_retention_months must be at least 1"
        )
    if "@" not in s.sender_address:
        raise ConfigError(f"{where['sender_address']}: sender_address must be an email address")
    _validate_mailbox(s)


def _validate_mailbox(s: Settings) -> None:
    where = s.sources
    bounce = s.effective_bounce_address
    if bounce and (bounce.count("@") != 1 or "+" in bounce or any(c in bounce for c in " <>,;")):
        raise ConfigError(
            f"{where['bounce_address']}: bounce_address must be a plain address without '+' "
            "(e.g. bounces@example.org), or off"
        )
    if s.soft_bounce_limit < 1 or s.soft_bounce_days < 1:
        which = "soft_bounce_limit" if s.soft_bounce_limit < 1 else "soft_bounce_days"
        raise ConfigError(f"{where[which]}: {which} must be at least 1")


def masked(settings: Settings) -> list[tuple[str, str, str]]:
    """(name, value, source) for `newsletter config`: a secret shows as `****` (no character
    of it), a database URL with every password in it masked."""
    rows = []
    for name in _setting_fields():
        raw = getattr(settings, name)
        value = str(raw).lower() if isinstance(raw, bool) else str(raw)
        if name == "database_url" and value:
            value = mask_url(value)
        elif name in SECRET_ENV and value:
            value = MASK
        rows.append((name, value, settings.sources.get(name, "default")))
    return rows


MASK = "****"
# Query parameters of a database URL that hold secrets (libpq: password, sslpassword).
_SECRET_PARAM = re.compile(r"pass|secret|token|key|auth|cred", re.IGNORECASE)


def mask_url(url: str) -> str:
    """`url` with the password of its user part and every secret-looking query parameter
    (`password`, `sslpassword`, ...) replaced by `****`. Unsure where a password ends (an
    unescaped `@` in it), it masks up to the last `@`: too much rather than a character
    too little."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    at = rest.rfind("@")
    if at >= 0:
        user, colon, _ = rest[:at].partition(":")
        rest = (f"{user}:{MASK}" if colon else user) + rest[at:]
    head, question, query = rest.partition("?")
    if question:
        params = []
        for param in re.split(r"([&;])", query):
            key, equals, _ = param.partition("=")
            secret = equals and _SECRET_PARAM.search(unquote_plus(key))
            params.append(f"{key}={MASK}" if secret else param)
        rest = head + question + "".join(params)
    return f"{scheme}{sep}{rest}"
