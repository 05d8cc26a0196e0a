"""The corpus in tests/fixtures/bounces: one message per case, in the shapes real servers send
(Postfix, Exim, Exchange/Outlook, Gmail, Yahoo, Amazon SES, feedback loops), with their oddities,
plus DSNs captured from the Postfix lab. Each is processed alone on a fresh database with one
send to six readers, and its expected outcome is asserted: what it is, whom it is about (by its
verified tag only), the ledger row, the suppression and where the message is filed."""

from __future__ import annotations

import shutil

import pytest

from tests.support.mailroom import CORPUS

# file: (verdict, category, status code, subscriber, ledger status of send 1, suppression)
BOUNCES = {
    "postfix-user-unknown.eml": ("bounce", "hard", "5.1.1", 1, "bounced", "bounced"),
    "postfix-mailbox-full.eml": ("bounce", "soft", "5.2.2", 2, "bounced", None),
    "postfix-delayed.eml": ("delayed", "", "4.4.1", 3, "sent", None),
    "postfix-gave-up-after-retries.eml": ("bounce", "soft", "4.4.1", 4, "bounced", None),
    "exim-nonstandard.eml": ("bounce", "hard", "5.1.1", 5, "bounced", "bounced"),
    "exchange-recipient-not-found.eml": ("bounce", "hard", "5.1.10", 6, "bounced", "bounced"),
    "gmail-no-such-user.eml": ("bounce", "hard", "5.1.1", 2, "bounced", "bounced"),
    "gmail-blocked-unsolicited.eml": ("bounce", "blocked", "5.7.1", 3, "bounced", None),
    "yahoo-mailbox-disabled.eml": ("bounce", "hard", "5.2.1", 1, "bounced", "bounced"),
    "yahoo-arf-complaint.eml": ("complaint", "abuse", "", 4, "complained", "complained"),
    "outlook-jmrp-complaint.eml": ("complaint", "abuse", "", 5, "complained", "complained"),
    "ses-bounce-forwarded.eml": ("bounce", "hard", "5.1.1", 6, "bounced", "bounced"),
    "blocklist-text-without-a-7.eml": ("bounce", "blocked", "5.0.0", 2, "bounced", None),
    "dsn-8bit-diagnostic.eml": ("bounce", "hard", "5.1.1", 3, "bounced", "bounced"),
    "dsn-missing-original-recipient-and-status.eml": (
        "bounce",
        "hard",
        "5.1.1",
        4,
        "bounced",
        "bounced",
    ),  # fmt: skip
    "dsn-returned-body-only.eml": ("bounce", "hard", "5.1.1", 5, "bounced", "bounced"),
    "dsn-nested-in-a-forward.eml": ("bounce", "hard", "5.1.1", 6, "bounced", "bounced"),
    "postfix-lab-unknown-user-ghost1.eml": ("bounce", "hard", "5.1.1", 3, "bounced", "bounced"),
    "postfix-lab-unknown-user-ghost2.eml": ("bounce", "hard", "5.1.1", 4, "bounced", "bounced"),
}
UNRECOGNISED = {
    "out-of-office.eml": "an auto-reply (out of office or similar), not a bounce",
    "forged-bounce-wrong-tag.eml": "its recipient tag is not one of ours",
    "bounce-for-a-message-we-never-sent.eml": "it carries no recipient tag",
    "spam-to-the-bounce-address.eml": "marked as spam by the receiving server",
}
DIAGNOSTICS = {
    "dsn-8bit-diagnostic.eml": "Benutzer unbekannt – dieses Postfach existiert nicht",
    "postfix-lab-unknown-user-ghost1.eml": 'X-Postfix; unknown user: "ghost1"',
    "exchange-recipient-not-found.eml": "RESOLVER.ADR.RecipientNotFound",
}


def test_every_file_of_the_corpus_has_an_expected_outcome():
    cases = {*BOUNCES, *UNRECOGNISED, "confirmation-mail-bounce.eml", "unsubscribe-request.eml"}
    assert {p.name for p in CORPUS.glob("*.eml")} == cases


def _process(mailroom, name: str):  # type: ignore[no-untyped-def]
    send = mailroom.add_send()
    assert send == 1  # the corpus's tags name send 1 (and send 0, the confirmation mails)
    shutil.copy(CORPUS / name, mailroom.box / "new" / name)
    return mailroom.run()


@pytest.mark.parametrize("name", sorted(BOUNCES))
def test_reports(mailroom, name):
    kind, category, code, subscriber, ledger, suppression = BOUNCES[name]
    report = _process(mailroom, name)
    assert report.unrecognised == [] and report.read == 1
    rows = mailroom.bounce_rows()
    assert rows == [(1, subscriber, kind, category, code)]
    status, detail = mailroom.ledger(1, subscriber)
    assert status == ledger
    if name in DIAGNOSTICS:
        from newsletter.audience.bounces import returns_of

        assert DIAGNOSTICS[name] in returns_of(mailroom.engine, subscriber)[0]["diagnostic"]
        assert DIAGNOSTICS[name] in detail
    assert mailroom.suppression(subscriber) == suppression
    others = [i for i in mailroom.subscribers if i != subscriber]
    assert all(mailroom.ledger(1, i)[0] == "sent" for i in others)
    assert all(mailroom.suppression(i) is None for i in others)
    assert mailroom.files("cur") == [f"{name}:2,S"]


@pytest.mark.parametrize("name", sorted(UNRECOGNISED))
def test_unrecognised_messages_change_nothing_and_are_set_aside(mailroom, name):
    report = _process(mailroom, name)
    assert [u["message"] for u in report.unrecognised] == [name]
    assert UNRECOGNISED[name] in report.unrecognised[0]["reason"]
    assert mailroom.bounce_rows() == []
    assert all(mailroom.ledger(1, i)[0] == "sent" for i in mailroom.subscribers)
    assert all(mailroom.suppression(i) is None for i in mailroom.subscribers)
    assert mailroom.files(".unrecognised/new") == [name] and mailroom.files("cur") == []


def test_a_confirmation_mail_bounce(mailroom):
    report = _process(mailroom, "confirmation-mail-bounce.eml")
    assert report.hard == 1
    assert mailroom.bounce_rows() == [(0, 5, "bounce", "hard", "5.1.1")]
    assert mailroom.suppression(5) == "bounced"
    assert mailroom.ledger(1, 5)[0] == "sent"  # no ledger row of a send is touched


def test_an_unsubscribe_request(mailroom):
    from newsletter.audience.memberships import memberships_of

    report = _process(mailroom, "unsubscribe-request.eml")
    assert report.unsubscribed == 1
    assert memberships_of(mailroom.engine, 2)[0]["status"] == "unsubscribed"
    assert mailroom.bounce_rows() == []


@pytest.mark.parametrize("name", sorted(p.name for p in CORPUS.glob("*.eml")))
def test_judging_the_start_of_a_message_agrees_with_judging_all_of_it(name):
    """A message is read 16 KB first: a verdict from its start is either the same as from
    the whole message, or none (then it is read whole). Cut at many places."""
    from newsletter.mailbox.classify import classify, classify_start
    from newsletter.tokens import Signer
    from tests.support.mailroom import CORPUS_KEY, LAB_KEY

    signer = Signer([CORPUS_KEY, LAB_KEY])
    data = (CORPUS / name).read_bytes()
    whole = classify(data, signer)
    for cut in range(200, len(data), 97):
        start = classify_start(data[:cut], signer, truncated=True)
        assert start is None or start == whole, (cut, start, whole)


def test_a_postfix_dsn_is_judged_from_its_first_16_kb():
    from newsletter.mailbox.classify import classify_start
    from newsletter.mailbox.run import START
    from newsletter.tokens import Signer
    from tests.support.mailroom import LAB_KEY

    data = (CORPUS / "postfix-lab-unknown-user-ghost1.eml").read_bytes()
    assert len(data) > START  # the whole original came back
    verdict = classify_start(data[:START], Signer([LAB_KEY]), truncated=True)
    assert verdict is not None and (verdict.kind, verdict.category) == ("bounce", "hard")
