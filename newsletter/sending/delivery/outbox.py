"""The zero-set-up backend: every message becomes a .eml file in a Maildir-style folder.

A file is written into ``tmp/`` and renamed into ``new/`` (atomic), under a name derived from
(send, subscriber), so sending the same pair again replaces the file instead of adding one.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from newsletter.config import Settings
from newsletter.errors import BackendConfigError
from newsletter.models import SENT, Recipient, SendResult
from newsletter.sending.delivery.base import Backend
from newsletter.sending.mime.dkim_keys import signer_for
from newsletter.sending.mime.message import MessageTemplate


class OutboxBackend(Backend):
    name = "outbox"

    def __init__(self, settings: Settings, **retry: Any):
        super().__init__(**retry)
        self.root = Path(settings.outbox_dir)
        self.dkim = signer_for(settings)  # ConfigError (a bad key) before anything is written
        try:
            for sub in ("tmp", "new", "cur"):
                (self.root / sub).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise BackendConfigError(
                f"{self.root}: cannot create the outbox folder: {exc.strerror} (check outbox_dir)"
            ) from None

    def filename(self, send_ref: str, recipient: Recipient) -> str:
        ref = re.sub(r"[^A-Za-z0-9_.-]+", "-", send_ref) or "send"
        who = (
            str(recipient.subscriber_id)
            if recipient.subscriber_id
            else ("addr-" + hashlib.sha256(recipient.email.lower().encode()).hexdigest()[:16])
        )
        return f"{ref}.{who}.eml"

    def send(self, template: MessageTemplate, recipients: Sequence[Recipient]) -> list[SendResult]:
        results: list[SendResult] = []
        template.sign_with(self.dkim)
        for recipient in recipients:
            name = self.filename(template.send_ref, recipient)
            tmp = self.root / "tmp" / f"{name}.{os.getpid()}"
            try:
                tmp.write_bytes(template.render(recipient))
                os.replace(tmp, self.root / "new" / name)
            except OSError as exc:  # disk full, permissions: every later message would fail too
                tmp.unlink(missing_ok=True)
                raise BackendConfigError(_cannot_write(self.root, exc), results) from None
            results.append(SendResult(recipient.subscriber_id, SENT, provider_id=name))
        return results


def _cannot_write(root: Path, exc: OSError) -> str:
    """One line for a write the outbox refused; a full disk says what to do about it."""
    if exc.errno == errno.ENOSPC:
        return (
            f"{root}: the disk holding the outbox is full: free some space, then continue "
            "with `newsletter send ISSUE --resume`"
        )
    return f"{root}: cannot write to the outbox: {exc}"
