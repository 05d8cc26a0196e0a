"""GET/POST /preferences/<token>: the lists a subscriber is on, to change, their name, and
"unsubscribe from everything". The token in the URL is the credential (it reaches only the
person, in the issues mailed to them), so no login or cookie is involved. This page is the one
place where a person's name changes on the web: the public form never changes a known
subscriber."""

from __future__ import annotations

from flask import Blueprint, render_template, request
from flask.typing import ResponseReturnValue

from newsletter.audience.consent import set_membership_status
from newsletter.audience.link_rule import LinkCannotUndo, LinkUse, link_mark
from newsletter.audience.memberships import memberships_of
from newsletter.audience.subscribers import rename
from newsletter.audience.unsubscribe import unsubscribe
from newsletter.errors import DatabaseUnavailable, StoreError
from newsletter.i18n import N_
from newsletter.tracking.optout import opted_out, set_tracking
from newsletter.web.context import context
from newsletter.web.language import _, ngettext
from newsletter.web.lookup import Target, masked_email, resolve

bp = Blueprint("preferences", __name__)
SOURCE = "web:preferences"
TRACKING_SAVED = {  # "Don't track my opens and clicks" checked or not (issue 12)
    True: N_(
        "We no longer record when you open our emails or follow their links, and we have "
        "deleted what we had recorded."
    ),
    False: N_("Your choice is saved: we count opens and clicks again."),
}


def _page(target: Target, *, message: str = "", error: str = "", status: int = 200):
    memberships = memberships_of(context().engine, target.subscriber_id)
    return render_template(
        "preferences.html.j2",
        masked=masked_email(target.subscriber["email"]),
        name=target.subscriber.get("name") or "",
        memberships=memberships,
        tracking_off=opted_out(context().engine, target.subscriber_id),
        message=message,
        error=error,
    ), status


def _refusals(blocked: list[str], newer: list[str]) -> str:
    said = []
    if blocked:
        said.append(
            ngettext(
                "This address is blocked for all of our newsletters, so we could not "
                "resubscribe it to %(lists)s. Please contact us.",
                "This address is blocked for all of our newsletters, so we could not "
                "resubscribe it to these lists: %(lists)s. Please contact us.",
                len(blocked),
            )
            % {"lists": ", ".join(blocked)}
        )
    if newer:
        said.append(
            ngettext(
                "You unsubscribed from %(lists)s after this link was mailed, so this link "
                "cannot undo it: use the link in a newer issue, or subscribe again on our "
                "subscribe page.",
                "You unsubscribed from these lists after this link was mailed: %(lists)s. "
                "This link cannot undo that: use the link in a newer issue, or subscribe "
                "again on our subscribe page.",
                len(newer),
            )
            % {"lists": ", ".join(newer)}
        )
    return " ".join(said)


@bp.get("/preferences/<token>")
def show(token: str) -> ResponseReturnValue:
    return _page(resolve(token, "preferences"))


@bp.post("/preferences/<token>")
def save(token: str) -> ResponseReturnValue:
    target = resolve(token, "preferences")
    engine = context().engine
    if request.form.get("action") == "tracking":  # "Don't track my opens and clicks"
        off = request.form.get("no_tracking") == "1"
        set_tracking(engine, target.subscriber_id, not off, source=SOURCE)
        return _page(target, message=_(TRACKING_SAVED[off]))
    if request.form.get("action") == "unsubscribe-all":
        unsubscribe(
            engine,
            target.subscriber_id,
            None,
            reason="unsubscribed",
            source=SOURCE,
            link=link_mark(token),
        )
        return _page(target, message=_("You are unsubscribed from every list."))
    if "name" in request.form and rename(
        engine, target.subscriber_id, request.form["name"], source=SOURCE
    ):
        target = resolve(token, "preferences")  # show the name as stored
    wanted = set(request.form.getlist("list"))
    link = LinkUse(link_mark(token), context().signer.issued_at(token, "preferences"))
    refused, newer = [], []
    for m in memberships_of(engine, target.subscriber_id):
        want = str(m["list_id"]) in wanted
        if want and m["status"] == "unsubscribed":
            try:
                set_membership_status(
                    engine,
                    target.subscriber_id,
                    m["list_id"],
                    "subscribed",
                    source=SOURCE,
                    reason="chose it on the preferences page",
                    link=link,
                )
            except DatabaseUnavailable:  # not a refusal: the 503 page
                raise
            except LinkCannotUndo:
                newer.append(m["name"])
            except StoreError:
                refused.append(m["name"])
        elif not want and m["status"] != "unsubscribed":
            set_membership_status(
                engine, target.subscriber_id, m["list_id"], "unsubscribed", source=SOURCE, link=link
            )
    error = _refusals(refused, newer)
    return _page(
        target,
        message="" if error else _("Your choices are saved."),
        error=error,
        status=409 if error else 200,
    )
