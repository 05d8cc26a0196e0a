"""Delivery backends behind one contract (`base`: units in, results out): `outbox` (files),
`smtp` (a package: one engine, every connection a state machine) and `sendgrid` (its request
body built by `sendgrid_body`, posted over `keepalive`'s kept-alive connections); each library
is imported only when used.

May import: `sending.mime` (each message is rendered from its MessageTemplate), `authoring`
and the kernel; nothing else from `sending`: a transport takes units and reports typed
outcomes, and never touches the ledger.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from newsletter.errors import ConfigError
from newsletter.models import BACKENDS

if TYPE_CHECKING:
    from newsletter.config import Settings
    from newsletter.sending.delivery.base import Backend


def make_backend(name: str, settings: Settings) -> Backend:
    if name == "outbox":
        from newsletter.sending.delivery.outbox import OutboxBackend

        return OutboxBackend(settings)
    if name == "smtp":
        from newsletter.sending.delivery.smtp import SMTPBackend

        return SMTPBackend(settings)
    if name == "sendgrid":
        from newsletter.sending.delivery.sendgrid import SendGridBackend

        return SendGridBackend(settings)
    raise ConfigError(f"unknown backend '{name}': use one of {', '.join(BACKENDS)}")
