"""Token -> (subscriber, list) for the views; anything wrong becomes the neutral 404."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from newsletter.audience.subscribers import subscriber_and_list
from newsletter.errors import TokenError
from newsletter.web.context import context
from newsletter.web.security import NotFound


@dataclass(frozen=True)
class Target:
    subscriber: dict[str, Any]  # a row of `subscribers` (get_subscriber)
    list: dict[str, Any] | None  # None when the token names every list (list id 0)

    @property
    def subscriber_id(self) -> int:
        return int(self.subscriber["id"])

    @property
    def list_id(self) -> int:
        return int(self.list["id"]) if self.list is not None else 0

    @property
    def list_name(self) -> str:
        return str(self.list["name"]) if self.list is not None else ""


def resolve(token: str, purpose: str, *, max_age: int | None = None) -> Target:
    """The subscriber and list a genuine token names; NotFound for anything else."""
    ctx = context()
    try:
        subscriber_id, list_id = ctx.signer.read(token, purpose, max_age=max_age)
        subscriber, the_list = subscriber_and_list(ctx.engine, subscriber_id, list_id)
    except TokenError:  # database trouble is not 'not found': security.py answers 503
        raise NotFound() from None
    if subscriber is None or (list_id and the_list is None):
        raise NotFound()
    return Target(subscriber, the_list)


def masked_email(email: str) -> str:
    """'ann.smith@example.org' -> 'a*******@example.org': recognisable, not readable aloud."""
    local, _, domain = email.rpartition("@")
    if not local:
        return "***"
    return f"{local[0]}{'*' * max(len(local) - 1, 3)}@{domain}"
