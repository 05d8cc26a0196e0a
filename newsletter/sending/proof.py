"""Proofs of an issue before it goes out: `newsletter test-send` (the issue to a few addresses
only, subject prefixed "[TEST] ", outside the ledger) and the sample message that `build` and
`preview` show, built by the same code as a real send."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from newsletter import tokens
from newsletter.authoring.issue_file import read_issue
from newsletter.authoring.render import render_issue
from newsletter.config import Settings
from newsletter.models import Recipient, RenderedIssue, SendResult
from newsletter.sending.delivery import make_backend
from newsletter.sending.mime.message import list_message_template


def send_proof(
    settings: Settings, path: str | Path, addresses: Sequence[str], backend_name: str = ""
) -> list[SendResult]:
    """Send the issue to `addresses` only; one result per address."""
    issue = read_issue(Path(path))
    backend_name = backend_name or settings.backend
    signer = tokens.signer_for(settings, allow_generated=backend_name == "outbox")
    rendered = render_issue(issue, settings)
    slug = issue.lists[0] if issue.lists else settings.default_list
    template = list_message_template(
        settings,
        {"slug": slug, "name": slug},
        subject="[TEST] " + rendered.subject,
        html=rendered.html,
        text=rendered.text,
        send_ref="send-0",
    )
    unsub = signer.make("unsubscribe", 0, 0)
    recipients = [
        Recipient(
            email=a,
            subscriber_id=0,
            view_url=tokens.view_url(settings, issue.id),
            unsubscribe_url=tokens.unsubscribe_url(settings, unsub),
            unsubscribe_mailto=tokens.unsubscribe_mailto(settings, unsub),
            preferences_url=tokens.preferences_url(settings, signer.make("preferences", 0, 0)),
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
    """A made-up reader whose links look like real ones (the tokens are not valid)."""
    token = "SAMPLE-TOKEN"
    return Recipient(
        email=SAMPLE_EMAIL,
        name=SAMPLE_NAME,
        unsubscribe_url=tokens.unsubscribe_url(settings, token),
        preferences_url=tokens.preferences_url(settings, token),
        view_url=tokens.view_url(settings, issue_id),
        unsubscribe_mailto=tokens.unsubscribe_mailto(settings, token),
    )


def sample_message(rendered: RenderedIssue, settings: Settings) -> bytes:
    """The message the sample reader would get, built by the same code as a real send."""
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
