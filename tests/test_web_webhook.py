"""The SendGrid event webhook: signature, staleness, malformed bodies, idempotency."""

from __future__ import annotations

import base64
import dataclasses
import json
import time

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select

from newsletter.db import tables
from newsletter.web import create_app
from newsletter.web.webhook_signature import SIGNATURE_HEADER, TIMESTAMP_HEADER


@pytest.fixture
def hook(web):  # type: ignore[no-untyped-def]
    """`web` with a webhook key pair generated here; `hook.post(events)` signs and posts."""
    key = ec.generate_private_key(ec.SECP256R1())
    public = base64.b64encode(
        key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    ).decode()
    settings = dataclasses.replace(web.settings, sendgrid_webhook_public_key=public)
    client = create_app(settings, web.engine).test_client()

    class Hook:
        def sign(self, body: bytes, timestamp: str) -> str:
            return base64.b64encode(
                key.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
            ).decode()

        def post(
            self,
            events,
            *,
            timestamp: str | None = None,
            signature: str | None = None,
            body: bytes | None = None,
        ):  # type: ignore[no-untyped-def]
            body = json.dumps(events).encode() if body is None else body
            timestamp = str(int(time.time())) if timestamp is None else timestamp
            headers = {
                TIMESTAMP_HEADER: timestamp,
                SIGNATURE_HEADER: signature or self.sign(body, timestamp),
            }
            return client.post(
                "/webhooks/sendgrid", data=body, headers=headers, content_type="application/json"
            )

    return Hook()


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


@pytest.mark.parametrize("body", [b"{not json", b'{"event": "bounce"}', b'["x", 1]', b"\xff\xfe"])
def test_malformed_bodies_are_rejected_and_change_nothing(web, hook, body):
    web.member("ann@example.org")
    before = _state(web.engine)
    response = hook.post(None, body=body)  # correctly signed, but not a list of events
    assert response.status_code == 400
    assert _state(web.engine) == before


def test_without_a_configured_key_everything_is_refused(web):
    response = web.client.post("/webhooks/sendgrid", data=b"[]", content_type="application/json")
    assert response.status_code == 403
