"""Delivery backends behind one contract (`base`): `outbox` (files), `smtp` (its connections
driven by one thread, `smtp_loop`, over `smtp_wire`, with `smtp_helpers` for retries,
`smtp_replies` for the wire details and `tls` for certificates) and `sendgrid` (over
`keepalive`'s kept-alive connections); each library is imported only when used.

May import: `sending.mime` (each message is rendered from its MessageTemplate), `authoring`
and the kernel; nothing else from `sending`: a transport takes units and reports typed
outcomes, and never touches the ledger.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from newsletter.errors import ConfigError

if TYPE_CHECKING:
    from newsletter.config import Settings
    from newsletter.sending.delivery.base import Backend

BACKENDS = ("outbox", "smtp", "sendgrid")


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
    raise ConfigError(f"unknown backend '{name}': use outbox, smtp or sendgrid")
