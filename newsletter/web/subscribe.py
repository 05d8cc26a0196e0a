"""GET/POST /subscribe (and /subscribe/<list>): name + email -> an `unconfirmed` membership and a
confirmation mail; GET /confirm/<token> -> `subscribed`.

The answer is the same whether or not the address was known, suppressed or already subscribed
(no address enumeration). Floods are stopped per client (in process) and per address (in the
database, see ``confirmation.py``).
"""

from __future__ import annotations

import contextlib
import logging

from flask import Blueprint, render_template, request
from flask.typing import ResponseReturnValue

from newsletter.audience import consent
from newsletter.audience.addresses import InvalidAddress, parse
from newsletter.audience.lists import get_list
from newsletter.audience.memberships import memberships_of
from newsletter.audience.subscribers import add_subscriber, get_subscriber
from newsletter.audience.suppressions import suppressions_of
from newsletter.errors import StoreError
from newsletter.web import confirmation
from newsletter.web.context import context
from newsletter.web.lookup import resolve
from newsletter.web.ratelimit import RateLimiter
from newsletter.web.security import NotFound

bp = Blueprint("subscribe", __name__)
log = logging.getLogger(__name__)
per_client = RateLimiter(limit=10, window=600)


def _list(slug: str | None) -> dict:
    try:
        return get_list(context().engine, slug or context().settings.default_list)
    except StoreError:
        raise NotFound() from None


def _form(the_list: dict, *, error: str = "", name: str = "", email: str = "", status: int = 200):
    page = render_template(
        "subscribe.html.j2",
        list_name=the_list["name"],
        description=the_list.get("description") or "",
        error=error,
        name=name,
        email=email,
    )
    return page, status


@bp.get("/subscribe")
@bp.get("/subscribe/<slug>")
def form(slug: str | None = None) -> ResponseReturnValue:
    return _form(_list(slug))


@bp.post("/subscribe")
@bp.post("/subscribe/<slug>")
def submit(slug: str | None = None) -> ResponseReturnValue:
    the_list = _list(slug)
    name = request.form.get("name", "").strip()[:200]
    email = request.form.get("email", "").strip()
    if not per_client.allow(request.remote_addr or "unknown"):
        return _form(
            the_list,
            error="Too many requests from your network; please try again in a few minutes.",
            name=name,
            email=email,
            status=429,
        )
    try:
        parse(email)
    except InvalidAddress:
        return _form(
            the_list,
            error="Please enter a valid email address, like name@example.com.",
            name=name,
            email=email,
            status=400,
        )
    _subscribe(email, name, the_list)
    return render_template("subscribe_sent.html.j2", list_name=the_list["name"])


def _subscribe(email: str, name: str, the_list: dict) -> None:
    """Everything that depends on who the address is; the caller's answer never does."""
    engine = context().engine
    # Suppressed or unsubscribed before (StoreError): only the confirm link may lift that.
    with contextlib.suppress(StoreError):
        add_subscriber(
            engine, email, the_list["slug"], name=name, status="unconfirmed", source="web:subscribe"
        )
    subscriber = get_subscriber(engine, email)
    if subscriber is None:
        return
    memberships = memberships_of(engine, subscriber["id"])
    status = {m["list_id"]: m["status"] for m in memberships}
    if status.get(the_list["id"]) == "subscribed":
        return
    if any(s["reason"] == "complained" for s in suppressions_of(engine, email)):
        return
    if not confirmation.may_send(subscriber["id"]):
        log.info("confirmation mail limit reached for subscriber %s", subscriber["id"])
        return
    if not confirmation.send(subscriber, the_list):
        log.warning("confirmation mail to subscriber %s was not accepted", subscriber["id"])


@bp.get("/confirm/<token>")
def confirm(token: str) -> ResponseReturnValue:
    target = resolve(token, "confirm", max_age=confirmation.CONFIRM_MAX_AGE)
    if target.list is None:
        raise NotFound()
    engine = context().engine
    ok = consent.confirm(engine, target.subscriber_id, target.list_id)
    if not ok:
        status = {m["list_id"]: m["status"] for m in memberships_of(engine, target.subscriber_id)}
        ok = status.get(target.list_id) == "subscribed"
    if not ok:
        # Left or was suppressed earlier: clicking the mailed link is their new consent.
        try:
            add_subscriber(
                engine,
                target.subscriber["email"],
                target.list["slug"],
                status="subscribed",
                source="web:confirm",
                resubscribe_reason="confirmed a new subscription by email",
            )
            ok = True
        except StoreError:
            ok = False  # a complaint is never lifted
    return render_template("confirmed.html.j2", ok=ok, list_name=target.list_name), (
        200 if ok else 409
    )
