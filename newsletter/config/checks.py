"""The rules a loaded setting must keep: one line each, naming where the value came from."""

from __future__ import annotations

import re

from newsletter.config.settings import DKIM_ALGORITHMS, Settings
from newsletter.errors import ConfigError
from newsletter.models import BACKENDS


def validate(s: Settings) -> None:
    """Raise ConfigError for the first value out of its range or set."""
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
    if s.outage_timeout <= 0:
        raise ConfigError(f"{where['outage_timeout']}: outage_timeout must be positive (seconds)")
    if s.stop_timeout < 0:
        raise ConfigError(f"{where['stop_timeout']}: stop_timeout must be 0 or more (seconds)")
    if s.db_outage_timeout <= 0:
        raise ConfigError(
            f"{where['db_outage_timeout']}: db_outage_timeout must be positive (seconds)"
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
    if s.language and not re.fullmatch(r"[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})*", s.language):
        raise ConfigError(
            f"{where['language']}: language must be a language code like en, fr or pt-BR"
        )
    if "@" not in s.sender_address:
        raise ConfigError(f"{where['sender_address']}: sender_address must be an email address")
    _validate_mailbox(s)
    _validate_dkim(s)


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


def _validate_dkim(s: Settings) -> None:
    """The names only: the key itself is read and checked when a backend that signs opens."""
    where = s.sources
    if s.dkim_algorithm not in DKIM_ALGORITHMS:
        raise ConfigError(
            f"{where['dkim_algorithm']}: dkim_algorithm must be one of {', '.join(DKIM_ALGORITHMS)}"
        )
    for name in ("dkim_selector", "dkim_selector_rsa", "dkim_selector_ed25519", "dkim_domain"):
        value = getattr(s, name)
        if value and not _DNS_LABELS.fullmatch(value):
            raise ConfigError(
                f"{where[name]}: {name} must be a DNS name (letters, digits, '-', '_', dots), "
                f"got {value!r}"
            )


_DNS_LABELS = re.compile(
    r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62})(?:\.[A-Za-z0-9_][A-Za-z0-9_-]{0,62})*"
)
