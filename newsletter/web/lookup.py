"""Token -> (subscriber, list) for the views; anything wrong becomes the neutral 404."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from newsletter.audience.subscribers import subscriber_and_list
from newsletter.errors import TokenError
from newsletter.tokens import ConfirmToken
from newsletter.web import language
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
    """The subscriber and list a genuine token names; NotFound for anything else. The page
    speaks the language of the token's send, else its list's (`web.language.for_target`)."""
    try:
        subscriber_id, list_id, send_id = context().signer.read_with_send(
            token, purpose, max_age=max_age
        )
    except TokenError:
        raise NotFound() from None
    target = _target(subscriber_id, list_id)
    language.for_target(target.list, send_id)
    return target


def resolve_confirm(token: str, *, max_age: int) -> tuple[Target, ConfirmToken]:
    """A confirm token's subscriber and list (never every list), and when it was issued."""
    try:
        link = context().signer.read_confirm(token, max_age=max_age)
    except TokenError:
        raise NotFound() from None
    target = _target(link.subscriber_id, link.list_id)
    if target.list is None:
        raise NotFound()
    language.for_target(target.list)
    return target, link


def _target(subscriber_id: int, list_id: int) -> Target:
    # Database trouble is not 'not found': it propagates, and security.py answers 503.
    subscriber, the_list = subscriber_and_list(context().engine, subscriber_id, list_id)
    if subscriber is None or (list_id and the_list is None):
        raise NotFound()
    return Target(subscriber, the_list)


def masked_email(email: str) -> str:
    """'ann.smith@example.org' -> 'a*******@example.org': recognisable, not readable aloud."""
    local, _, domain = email.rpartition("@")
    if not local:
        return "***"
    return f"{local[0]}{'*' * max(len(local) - 1, 3)}@{domain}"
