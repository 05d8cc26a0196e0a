"""Placeholder substitution has one home and is single-pass everywhere: a value that itself
looks like a placeholder (a subscriber named `__NL_EMAIL__`) stays literal in the HTML part, the
text part, the subject, the MIME message, the archive page and the SendGrid request."""

from __future__ import annotations

import email
from email import policy

from newsletter.authoring import placeholders
from newsletter.models import Recipient, RenderedIssue
from tests.support.backends import sendgrid_backend
from tests.support.messages import recipient, sample_template

SNEAKY = "__NL_EMAIL__ __NL_UNSUBSCRIBE_URL__"


def _rendered() -> RenderedIssue:
    return RenderedIssue(
        issue_id="x",
        subject="News for __NL_NAME__",
        preheader="",
        html="<p>Hi __NL_NAME__ (__NL_EMAIL__)</p><a href='__NL_UNSUBSCRIBE_URL__'>u</a>",
        text="Hi __NL_NAME__ <__NL_EMAIL__>\nUnsubscribe: __NL_UNSUBSCRIBE_URL__\n",
        web_html="",
    )


def test_personalise_never_expands_a_value(tmp_path):
    who = Recipient(email="ann@example.org", name=SNEAKY, unsubscribe_url="https://u.example/t")
    out = placeholders.personalise(_rendered(), who)
    for part in (out.subject, out.html, out.text):
        assert SNEAKY in part
        assert part.count("ann@example.org") == (0 if part is out.subject else 1)


def test_the_mime_message_never_expands_a_value():
    template = sample_template(subject="Hello __NL_NAME__")
    data = template.render(recipient(1, name=SNEAKY))
    msg = email.message_from_bytes(data, policy=policy.default)
    assert SNEAKY in msg["Subject"]
    for kind in ("plain", "html"):
        body = msg.get_body((kind,)).get_content()
        assert "__NL_EMAIL__ __NL_UNSUBSCRIBE_URL__" in body


def test_fill_is_the_one_routine_and_replaces_in_one_pass():
    values = dict.fromkeys(placeholders.PLACEHOLDERS, "")
    values[placeholders.NAME] = placeholders.EMAIL
    values[placeholders.EMAIL] = "ann@example.org"
    assert placeholders.fill("__NL_NAME__ / __NL_EMAIL__", values) == (
        "__NL_EMAIL__ / ann@example.org"
    )


def test_sendgrid_values_never_carry_a_substitution_key():
    """SendGrid substitutes on its side, in an order we do not control: no value may contain
    any key of the request, or SendGrid could expand it."""
    backend = sendgrid_backend()
    template = sample_template(subject="Hello __NL_NAME__")
    names = ["__NLH_EMAIL__", "__NLS_EMAIL__", "__NL_EMAIL__", "x__NLH_NAME__y"]
    for name in names:
        item = backend.personalization(template, recipient(1, name=name))
        subs = item["substitutions"]
        for value in subs.values():
            assert not any(key in value for key in subs), (name, value)
