"""GET shows the unsubscribe page (never acts: mail scanners follow links); POST unsubscribes.

POST accepts the RFC 8058 one-click request exactly as mailbox providers send it (a form body
``List-Unsubscribe=One-Click``, url-encoded or multipart, no cookies, no CSRF token) and answers
200 without redirecting. The page's own button posts ``action=unsubscribe``; after leaving, a
second button posts ``action=resubscribe``, which restores that one list only, and only the
unsubscribe this same link made while nothing newer happened (`audience.link_rule`).
"""

from __future__ import annotations

from flask import Blueprint, render_template, request
from flask.typing import ResponseReturnValue

from newsletter.audience.consent import resubscribe
from newsletter.audience.link_rule import LinkCannotUndo, LinkUse, link_mark
from newsletter.audience.unsubscribe import UnknownTarget, unsubscribe
from newsletter.errors import DatabaseUnavailable, StoreError, TokenError
from newsletter.tracking.unsubscribes import source_via
from newsletter.web.context import context
from newsletter.web.lookup import Target, masked_email, resolve
from newsletter.web.security import NotFound

bp = Blueprint("unsubscribe", __name__)


def _page(target: Target, state: str, status: int = 200) -> tuple[str, int]:
    return (
        render_template(
            "unsubscribe.html.j2",
            state=state,
            list_name=target.list_name,
            masked=masked_email(target.subscriber["email"]),
        ),
        status,
    )


@bp.get("/unsubscribe/<token>")
def show(token: str) -> ResponseReturnValue:
    return _page(resolve(token, "unsubscribe"), "ask")


@bp.post("/unsubscribe/<token>")
def act(token: str) -> ResponseReturnValue:
    if request.form.get("List-Unsubscribe") == "One-Click":
        return _one_click(token)
    target = resolve(token, "unsubscribe")
    engine = context().engine
    if request.form.get("action") == "resubscribe" and target.list_id:
        try:  # only the unsubscribe this very link made, while nothing newer happened
            resubscribe(
                engine,
                target.subscriber_id,
                target.list_id,
                source="web:unsubscribe-page",
                reason="resubscribed from the unsubscribe page",
                link=LinkUse(link_mark(token)),
            )
        except DatabaseUnavailable:  # not a refusal: the 503 page, and the person tries again
            raise
        except LinkCannotUndo:
            return _page(target, "stale", 409)
        except StoreError:  # suppressed for every list, or a complaint: not ours to lift
            return _page(target, "blocked", 409)
        return _page(target, "resubscribed")
    send_id = context().signer.read_with_send(token, "unsubscribe")[2]  # genuine: resolved
    unsubscribe(
        engine,
        target.subscriber_id,
        target.list_id or None,
        reason="unsubscribed",
        source=source_via("web:unsubscribe-page", send_id),  # "through this issue" (issue 12)
        link=link_mark(token),  # so that this link's Resubscribe may undo it
    )
    return _page(target, "done")


def _one_click(token: str) -> ResponseReturnValue:
    """The mail provider's POST: nothing to show, so no page lookups (the hot path)."""
    ctx = context()
    try:
        subscriber_id, list_id, send_id = ctx.signer.read_with_send(token, "unsubscribe")
    except TokenError:
        raise NotFound() from None
    try:
        unsubscribe(
            ctx.engine,
            subscriber_id,
            list_id or None,
            reason="unsubscribed",
            source=source_via("web:one-click", send_id),  # a link of a send names it
            link=link_mark(token),
        )
    except UnknownTarget:  # erased, removed, or the list is gone: nothing written, neutral 404
        raise NotFound() from None
    # Any other StoreError is database trouble: 503, and the provider tries again.
    # A mail client, not a person, reads this: a short plain answer.
    return "Unsubscribed.\n", 200, {"Content-Type": "text/plain; charset=utf-8"}
