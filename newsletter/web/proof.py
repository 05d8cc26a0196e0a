"""The unsubscribe and preferences links of a proof (`test-send`, `build`'s sample.eml,
`preview`) carry `models.PROOF_TOKEN`: they open a page that says this was a test message and
that the link works for real readers, instead of the neutral 404 that made reviewers think the
links were broken. GET and POST (a provider's one-click) alike; nothing is read or written."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask.typing import ResponseReturnValue

from newsletter.models import PROOF_TOKEN

bp = Blueprint("proof", __name__)


@bp.route(f"/unsubscribe/{PROOF_TOKEN}", methods=["GET", "POST"])
def unsubscribe() -> ResponseReturnValue:
    return render_template("proof.html.j2", page="unsubscribe"), 200


@bp.route(f"/preferences/{PROOF_TOKEN}", methods=["GET", "POST"])
def preferences() -> ResponseReturnValue:
    return render_template("proof.html.j2", page="preferences"), 200
