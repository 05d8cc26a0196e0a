"""Settings: every default in one place; `newsletter.toml`, then `NEWSLETTER_<KEY>` env overrides.

Secrets come only from the environment, under their conventional names, and are never read
from the file (a secret in `newsletter.toml` is an error, so it cannot be committed by accident).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from newsletter.errors import ConfigError

CONFIG_FILE = "newsletter.toml"

# Secrets: setting name -> environment variable. Never from the file.
SECRET_ENV = {
    "database_url": "DATABASE_URL",
    "sendgrid_api_key": "SENDGRID_API_KEY",
    "secret_key": "NEWSLETTER_SECRET_KEY",
    "old_secret_keys": "NEWSLETTER_OLD_SECRET_KEYS",  # comma-separated, accepted for verification
    "smtp_password": "NEWSLETTER_SMTP_PASSWORD",
    "sendgrid_webhook_public_key": "NEWSLETTER_SENDGRID_WEBHOOK_PUBLIC_KEY",
}


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
    backend: str = "outbox"  # outbox | smtp | sendgrid
    batch_size: int = 500
    rate: float = 0.0  # messages per second, 0 = as fast as possible
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_username: str = ""
    smtp_security: str = "none"  # none | starttls | tls
    smtp_connections: int = 4
    smtp_timeout: float = 30.0
    sendgrid_api_host: str = "https://api.sendgrid.com"
    sendgrid_timeout: float = 30.0
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
    # Where each value came from: "default", the config file path, or "env NAME".
    sources: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)

    @property
    def effective_database_url(self) -> str:
        return self.database_url or "sqlite:///newsletter.db"

    @property
    def sender_domain(self) -> str:
        return self.sender_address.rpartition("@")[2] or "localhost"

    @property
    def effective_unsubscribe_mailto(self) -> str:
        return self.unsubscribe_mailto or f"unsubscribe@{self.sender_domain}"

    def defaults_used(self) -> list[str]:
        return [k for k, v in self.sources.items() if v == "default"]


def _setting_fields() -> dict[str, type]:
    hints: dict[object, type] = {"str": str, "int": int, "float": float, "bool": bool}
    return {f.name: hints[f.type] for f in fields(Settings) if f.name != "sources"}


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
                raise ConfigError(f"{path}: unknown setting '{key}'{_suggest(key, kinds)}")
            values[key] = _coerce(key, raw, kinds[key], str(path))
            sources[key] = str(path)

    for name, kind in kinds.items():
        var = SECRET_ENV.get(name) or f"NEWSLETTER_{name.upper()}"
        if var in env and env[var] != "":
            values[name] = _coerce(name, env[var], kind, f"environment {var}")
            sources[name] = f"env {var}"

    settings = replace(Settings(sources=sources), **values)
    _validate(settings)
    return settings


def _suggest(word: str, choices: Mapping[str, object] | list[str]) -> str:
    import difflib

    match = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean '{match[0]}'?)" if match else ""


def _validate(s: Settings) -> None:
    where = s.sources
    if s.backend not in ("outbox", "smtp", "sendgrid"):
        raise ConfigError(f"{where['backend']}: backend must be outbox, smtp or sendgrid")
    if s.smtp_security not in ("none", "starttls", "tls"):
        raise ConfigError(f"{where['smtp_security']}: smtp_security must be none, starttls or tls")
    if s.batch_size < 1 or s.batch_size > 1000:
        raise ConfigError(f"{where['batch_size']}: batch_size must be between 1 and 1000")
    if s.smtp_connections < 1:
        raise ConfigError(f"{where['smtp_connections']}: smtp_connections must be at least 1")
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


def masked(settings: Settings) -> list[tuple[str, str, str]]:
    """(name, value, source) for `newsletter config`, secrets masked."""
    rows = []
    for name in _setting_fields():
        raw = getattr(settings, name)
        value = str(raw).lower() if isinstance(raw, bool) else str(raw)
        if name in SECRET_ENV and value:
            value = "****" + (value[-4:] if len(value) > 12 and name != "database_url" else "")
            if name == "database_url":
                value = mask_url(getattr(settings, name))
        rows.append((name, value, settings.sources.get(name, "default")))
    return rows


def mask_url(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    creds, at, host = rest.rpartition("@")
    if not at or ":" not in creds:
        return url
    return f"{scheme}{sep}{creds.split(':', 1)[0]}:****@{host}"
