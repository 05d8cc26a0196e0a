"""The SendGrid event webhook: signature, staleness, malformed bodies, idempotency."""

from __future__ import annotations

import base64
import json
import time

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select

from newsletter.db import tables


def _state(engine) -> dict:  # type: ignore[no-untyped-def]
    out = {}
    with engine.connect() as conn:
        for name in ("suppressions", "memberships", "subscriber_events", "deliveries"):
            t = tables.metadata.tables[name]
            out[name] = [tuple(r) for r in conn.execute(select(t).order_by(*t.primary_key.columns))]
    return out


def _delivery(engine, subscriber_id: int) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    d = tables.deliveries
    with engine.connect() as conn:
        row = conn.execute(
            select(d.c.status, d.c.detail).where(d.c.subscriber_id == subscriber_id)
        ).one()
    return row.status, row.detail


def _events(web, ann, bob):  # type: ignore[no-untyped-def]
    progress = web.send_issue()
    ref = f"send-{progress.send_id}"
    now = int(time.time())
    return [
        {
            "email": "ann@example.org",
            "event": "delivered",
            "send_ref": ref,
            "subscriber_id": str(ann["id"]),
            "timestamp": now,
            "sg_event_id": "e1",
        },
        {
            "email": "bob@example.org",
            "event": "bounce",
            "type": "bounce",
            "reason": "550 5.1.1 no such user",
            "send_ref": ref,
            "subscriber_id": str(bob["id"]),
            "timestamp": now,
            "sg_event_id": "e2",
        },
        {"email": "cat@example.org", "event": "spamreport", "timestamp": now, "sg_event_id": "e3"},
        {
            "email": "dan@example.org",
            "event": "dropped",
            "reason": "Invalid",
            "timestamp": now,
            "sg_event_id": "e4",
        },
        {"email": "eve@example.org", "event": "open", "timestamp": now, "sg_event_id": "e5"},
    ]


def test_signed_events_are_applied_once(web, hook):
    ann, bob = web.member("ann@example.org"), web.member("bob@example.org")
    web.member("cat@example.org")
    events = _events(web, ann, bob)
    first = hook.post(events)
    assert first.status_code == 200, first.get_data(as_text=True)
    assert {s[0]: s[2] for s in web.suppressions()} == {
        "bob@example.org": "bounced",
        "cat@example.org": "complained",
        "dan@example.org": "bounced",
    }
    assert _delivery(web.engine, ann["id"]) == ("sent", "sendgrid: delivered")
    assert _delivery(web.engine, bob["id"]) == (
        "bounced",
        "sendgrid: bounce: 550 5.1.1 no such user",
    )
    assert web.status(bob["id"]) == "unsubscribed"
    after_first = _state(web.engine)
    again = hook.post(events)  # SendGrid retries whole batches
    assert again.status_code == 200
    assert _state(web.engine) == after_first


def test_out_of_order_events_never_move_a_row_backwards(web, hook):
    ann, bob = web.member("ann@example.org"), web.member("bob@example.org")
    events = {e["event"]: e for e in _events(web, ann, bob)}
    bounce = {**events["bounce"], "email": "ann@example.org", "subscriber_id": str(ann["id"])}
    deferred = {**events["delivered"], "event": "deferred", "response": "try later"}
    assert hook.post([bounce]).status_code == 200
    after_bounce = _delivery(web.engine, ann["id"])
    assert after_bounce[0] == "bounced"
    assert hook.post([events["delivered"], deferred]).status_code == 200
    assert _delivery(web.engine, ann["id"]) == after_bounce


@pytest.mark.parametrize(
    "case", ["bad-signature", "other-key", "stale", "future", "unsigned", "tampered-body"]
)
def test_bad_requests_get_403_and_change_nothing(web, hook, case):
    ann, bob = web.member("ann@example.org"), web.member("bob@example.org")
    events = _events(web, ann, bob)
    body = json.dumps(events).encode()
    before = _state(web.engine)
    now = int(time.time())
    if case == "bad-signature":
        response = hook.post(events, signature=base64.b64encode(b"\x30\x06garbage").decode())
    elif case == "other-key":
        other = ec.generate_private_key(ec.SECP256R1())
        sig = other.sign(str(now).encode() + body, ec.ECDSA(hashes.SHA256()))
        response = hook.post(events, timestamp=str(now), signature=base64.b64encode(sig).decode())
    elif case == "stale":
        response = hook.post(events, timestamp=str(now - 3600))  # validly signed, but old
    elif case == "future":
        response = hook.post(events, timestamp=str(now + 3600))
    elif case == "unsigned":
        response = web.client.post("/webhooks/sendgrid", data=body, content_type="application/json")
    else:
        signature = hook.sign(body, str(now))
        tampered = body.replace(b"bounce", b"delivered")
        response = hook.post(None, body=tampered, timestamp=str(now), signature=signature)
    assert response.status_code == 403
    assert _state(web.engine) == before


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b'{"event": "bounce"}',
        b"\xff\xfe",
        b"[" * 100_000 + b"]" * 100_000,  # valid JSON, nested too deep to parse
        b'[{"event": "bounce", "email": "a@example.org", "x": '
        + b"[" * 100_000
        + b"]" * 100_000
        + b"}]",
    ],
    ids=["not-json", "not-a-list", "not-utf8", "deep", "deep-inside-an-event"],
)
def test_malformed_bodies_are_rejected_and_change_nothing(web, hook, body):
    web.member("ann@example.org")
    before = _state(web.engine)
    response = hook.post(None, body=body)  # correctly signed, but not a list of events
    assert response.status_code == 400
    assert _state(web.engine) == before


def test_one_bad_event_never_blocks_the_batch(web, hook, caplog):
    """Each bad event is skipped and logged with its index and reason (never an address); every
    event after it is applied, and the answer is 2xx so SendGrid does not retry forever."""
    ann, bob = web.member("ann@example.org"), web.member("bob@example.org")
    events = {e["event"]: e for e in _events(web, ann, bob)}
    bad = [
        {**events["delivered"], "subscriber_id": "9" * 30},  # too large for the database
        {**events["delivered"], "send_ref": 2**70},
        {**events["spamreport"], "email": ["cat@example.org"]},  # not a string
        {**events["bounce"], "email": "not an address"},
        {**events["bounce"], "reason": {"nested": [[["garbage"]]]}},
        "not an object",
        {**events["delivered"], "subscriber_id": "\u0663"},  # a digit, but not an ASCII one
    ]
    good = [events["delivered"], events["bounce"], events["spamreport"], events["dropped"]]
    with caplog.at_level("WARNING"):
        response = hook.post([*bad, *good])
    assert response.status_code == 200
    assert response.get_json() == {"received": 11, "applied": 4, "rejected": 7}
    # The events after the bad ones changed the database:
    assert _delivery(web.engine, ann["id"]) == ("sent", "sendgrid: delivered")
    assert _delivery(web.engine, bob["id"])[0] == "bounced"  # the statuses the mailbox records
    assert {s[0]: s[2] for s in web.suppressions()} == {
        "bob@example.org": "bounced",
        "cat@example.org": "complained",
        "dan@example.org": "bounced",
    }
    skipped = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert [m.split(":")[0] for m in skipped] == [f"SendGrid event {i} skipped" for i in range(7)]
    assert "'subscriber_id' is not an id" in skipped[0]
    assert "'email' must be text, got list" in skipped[2]
    assert "@" not in caplog.text  # no address is logged, valid or not


def test_a_number_too_long_for_python_costs_only_its_event(web, hook):
    ann, bob = web.member("ann@example.org"), web.member("bob@example.org")
    events = {e["event"]: e for e in _events(web, ann, bob)}
    huge = b'{"event": "delivered", "send_ref": "send-1", "subscriber_id": ' + b"9" * 5000 + b"}"
    body = b"[" + huge + b", " + json.dumps(events["spamreport"]).encode() + b"]"
    response = hook.post(None, body=body)
    assert response.status_code == 200
    assert response.get_json() == {"received": 2, "applied": 1, "rejected": 1}
    assert {s[0]: s[2] for s in web.suppressions()} == {"cat@example.org": "complained"}


def test_without_a_configured_key_everything_is_refused(web):
    response = web.client.post("/webhooks/sendgrid", data=b"[]", content_type="application/json")
    assert response.status_code == 403
