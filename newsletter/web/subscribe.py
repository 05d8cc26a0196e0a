"""GET/POST /subscribe (and /subscribe/<list>): email (+ optional name) -> a confirmation mail;
GET /confirm/<token> shows the confirmation button, POST /confirm/<token> subscribes.

No address enumeration, in the page or in its timing: the answer to a valid form post is built
before anything about the address is looked up, and everything that depends on who the address
is (the database, the mail) runs after the answer has been sent (`after_answer`). Floods are
stopped per client here (in process) and per address in the database (`audience.consent`).

Confirming takes a POST: a GET or HEAD (a mail scanner following every link, a preview pane)
never changes a subscription.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, current_app, make_response, render_template, request
from flask.typing import ResponseReturnValue
from sqlalchemy.exc import SQLAlchemyError

from newsletter.audience import consent
from newsletter.audience.addresses import InvalidAddress, parse
from newsletter.audience.lists import all_lists, get_list
from newsletter.audience.names import clean_name
from newsletter.errors import DatabaseUnavailable, NewsletterError, StoreError
from newsletter.sequences.overview import welcome_on_its_way
from newsletter.web import confirmation, language
from newsletter.web.context import WebContext, context
from newsletter.web.language import _
from newsletter.web.lookup import resolve_confirm
from newsletter.web.ratelimit import RateLimiter
from newsletter.web.security import NotFound, describe_failure

bp = Blueprint("subscribe", __name__)
log = logging.getLogger(__name__)
per_client = RateLimiter(limit=10, window=600)


def remember_lists(web: WebContext) -> None:
    """Read every list once (at start, or when the database is first reached), so the form's
    answer names its list even if the database goes away before this process read it."""
    # The database away (or empty): lists are remembered as they are read.
    with contextlib.suppress(StoreError, SQLAlchemyError):
        web.lists_seen.update(
            (found["slug"], found) for found in all_lists(web.engine) if not found["private"]
        )


def _list(slug: str | None) -> dict:
    """The list of the form; an unknown one is the neutral 404, database trouble the 503."""
    wanted = slug or context().settings.default_list
    try:
        found = get_list(context().engine, wanted)
    except DatabaseUnavailable:
        raise
    except StoreError:
        raise NotFound() from None
    if found["private"]:  # never subscribable on the web: the same 404 as an unknown list
        raise NotFound()
    context().lists_seen[wanted] = found
    return found


def _list_for_answer(slug: str | None) -> dict:
    """The form's list, or with the database away, the one this process last read (else a list
    named after the site, id 0): the answer to a post is the same whatever happens."""
    try:
        return _list(slug)
    except (DatabaseUnavailable, SQLAlchemyError) as exc:
        log.error("subscribe form: database unavailable: %s", describe_failure(exc))
        wanted = slug or context().settings.default_list
        return context().lists_seen.get(wanted) or {"id": 0, "name": context().settings.sender_name}


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
    the_list = _list(slug)
    _speak(the_list, slug)
    return _form(the_list)


def _speak(the_list: dict, slug: str | None) -> None:
    """`/subscribe/<list>` speaks the list's language; the bare `/subscribe` the reader's."""
    if slug:
        language.for_list(the_list)
    else:
        language.neutral()


@bp.post("/subscribe")
@bp.post("/subscribe/<slug>")
def submit(slug: str | None = None) -> ResponseReturnValue:
    the_list = _list_for_answer(slug)
    _speak(the_list, slug)
    name = clean_name(request.form.get("name", ""))
    email = request.form.get("email", "").strip()
    if not per_client.allow(request.remote_addr or "unknown"):
        return _form(
            the_list,
            error=_("Too many requests from your network; please try again in a few minutes."),
            name=name,
            email=email,
            status=429,
        )
    try:
        parse(email)
    except InvalidAddress:
        return _form(
            the_list,
            error=_("Please enter a valid email address, like name@example.com."),
            name=name,
            email=email,
            status=400,
        )
    response = make_response(render_template("subscribe_sent.html.j2", list_name=the_list["name"]))
    if the_list["id"]:  # else the database was away and the list unknown here: nothing to do
        after_answer(response, _request, email, name, the_list)
    return response


def after_answer(response: Response, work: Callable[..., None], *args: Any) -> None:
    """Run `work(*args)` once the response has been sent (the WSGI server closes it then).
    A failure is logged without the arguments: they hold an address and a name."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]

    def run() -> None:
        with app.app_context():
            try:
                work(*args)
            except (NewsletterError, SQLAlchemyError) as exc:
                log.error("subscribe request not handled: %s", describe_failure(exc))

    response.call_on_close(run)


def _request(email: str, name: str, the_list: dict) -> None:
    """Everything that depends on who the address is; the answer was sent already."""
    mailing = consent.request_subscription(context().engine, email, the_list["id"], name)
    if mailing is None:
        return  # subscribed already, blocked, or over its limit: nothing is mailed
    if not confirmation.send(mailing, the_list):
        log.warning("confirmation mail to subscriber %s was not accepted", mailing.subscriber_id)


@bp.get("/confirm/<token>")
def confirm_page(token: str) -> ResponseReturnValue:
    """Shows the button, or what a click would find; never changes anything (GET and HEAD)."""
    target, link = resolve_confirm(token, max_age=confirmation.CONFIRM_MAX_AGE)
    outcome = consent.link_outcome(
        context().engine, target.subscriber_id, target.list_id, link.issued_at
    )
    return _outcome_page(outcome, target.list_name, ask=True)


@bp.post("/confirm/<token>")
def confirm(token: str) -> ResponseReturnValue:
    target, link = resolve_confirm(token, max_age=confirmation.CONFIRM_MAX_AGE)
    outcome = consent.confirm_from_link(
        context().engine, target.subscriber_id, target.list_id, link.issued_at
    )
    welcome = outcome == consent.CONFIRMED and _welcome_waits(target.list_id)
    return _outcome_page(outcome, target.list_name, welcome=welcome)


def _welcome_waits(list_id: int) -> bool:
    """Whether the list has a sequence that sends (registered, not paused). The subscription
    is confirmed already: database trouble here only leaves the line out."""
    try:
        return welcome_on_its_way(context().engine, list_id)
    except (StoreError, SQLAlchemyError):
        return False


def _outcome_page(
    outcome: str, list_name: str, *, ask: bool = False, welcome: bool = False
) -> ResponseReturnValue:
    if outcome == consent.GONE:
        raise NotFound()
    state = "ask" if ask and outcome == consent.CONFIRMED else outcome
    status = 409 if outcome in (consent.WITHDRAWN, consent.BLOCKED) else 200
    page = render_template("confirmed.html.j2", state=state, list_name=list_name, welcome=welcome)
    return page, status
