"""Proofs of an issue before it goes out: `newsletter test-send` (the issue to a few addresses
only, outside the ledger, its subject from the template `test_subject.txt.j2`: "[TEST] ...")
and the sample message that `build` and
`preview` show, built by the same code as a real send, for one list: its own From, Reply-To
and name, as the list's real send has them (`proof_list`). A proof's unsubscribe and
preferences links carry `models.PROOF_TOKEN`, which the web app answers with a page saying it
was a test message."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from newsletter import i18n, tokens
from newsletter.audience.lists import get_list
from newsletter.authoring.issue_file import read_issue
from newsletter.authoring.render import PROOF_SUBJECT_TEMPLATE, render_issue, render_line
from newsletter.config import Settings
from newsletter.models import PROOF_TOKEN, Issue, Recipient, RenderedIssue, SendResult
from newsletter.sending.delivery import make_backend
from newsletter.sending.mime.message import list_message_template


def proof_list(
    engine: Engine | None, settings: Settings, issue: Issue, slug: str = ""
) -> dict[str, Any]:
    """The list a proof is for: `slug`, by default the issue's first list, as stored (its own
    sender, Reply-To and name). Without a database (`engine` None) the settings' sender and the
    slug stand in; with one, an unknown list is a StoreError naming the known ones."""
    slug = slug or (issue.lists[0] if issue.lists else settings.default_list)
    if engine is None:
        return {"slug": slug, "name": slug}
    return get_list(engine, slug)


def send_proof(
    settings: Settings,
    path: str | Path,
    addresses: Sequence[str],
    backend_name: str = "",
    *,
    the_list: dict[str, Any] | None = None,
) -> list[SendResult]:
    """Send the issue to `addresses` only, as `the_list` (`proof_list`) gets it; one result per
    address."""
    issue = read_issue(Path(path))
    backend_name = backend_name or settings.backend
    tokens.signer_for(settings, allow_generated=backend_name == "outbox")  # no key: refuse
    the_list = the_list or proof_list(None, settings, issue)
    language = i18n.for_list(issue.language, the_list, settings.language)
    rendered = render_issue(issue, settings, list_name=the_list.get("name", ""), language=language)
    template = list_message_template(
        settings,
        the_list,
        subject=render_line(settings, PROOF_SUBJECT_TEMPLATE, subject=rendered.subject),
        html=rendered.html,
        text=rendered.text,
        send_ref="send-0",
    )
    recipients = [
        Recipient(
            email=a,
            subscriber_id=0,
            view_url=tokens.view_url(settings, issue.id),
            unsubscribe_url=tokens.unsubscribe_url(settings, PROOF_TOKEN),
            unsubscribe_mailto=tokens.unsubscribe_mailto(settings, PROOF_TOKEN),
            preferences_url=tokens.preferences_url(settings, PROOF_TOKEN),
        )
        for a in addresses
    ]
    backend = make_backend(backend_name, settings)
    try:
        return backend.send(template, recipients)
    finally:
        backend.close()


SAMPLE_NAME = "Sample Reader"
SAMPLE_EMAIL = "reader@example.com"


def sample_recipient(settings: Settings, issue_id: str) -> Recipient:
    """A made-up reader whose links look like real ones (they open the test-message page)."""
    token = PROOF_TOKEN
    return Recipient(
        email=SAMPLE_EMAIL,
        name=SAMPLE_NAME,
        unsubscribe_url=tokens.unsubscribe_url(settings, token),
        preferences_url=tokens.preferences_url(settings, token),
        view_url=tokens.view_url(settings, issue_id),
        unsubscribe_mailto=tokens.unsubscribe_mailto(settings, token),
    )


def sample_message(
    rendered: RenderedIssue, settings: Settings, the_list: dict[str, Any] | None = None
) -> bytes:
    """The message the sample reader of `the_list` (`proof_list`) would get, built by the same
    code as a real send."""
    if the_list is None:
        the_list = {"slug": rendered.list_name or settings.default_list, "name": rendered.list_name}
    template = list_message_template(
        settings,
        the_list,
        subject=rendered.subject,
        html=rendered.html,
        text=rendered.text,
        send_ref=f"sample-{rendered.issue_id}",
    )
    return template.render(sample_recipient(settings, rendered.issue_id))
