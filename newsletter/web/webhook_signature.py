"""Verify SendGrid's signed Event Webhook (ECDSA P-256 over timestamp + raw body).

SendGrid signs ``timestamp + body`` with ECDSA/SHA-256 and sends the base64 DER signature in
``X-Twilio-Email-Event-Webhook-Signature`` and the Unix timestamp in
``X-Twilio-Email-Event-Webhook-Timestamp``. The public key (base64 DER, as shown in the SendGrid
console) comes from ``settings.sendgrid_webhook_public_key``.
"""

from __future__ import annotations

import base64
import binascii
import time

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_public_key, load_pem_public_key

from newsletter.errors import ConfigError

SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"
MAX_AGE_SECONDS = 600  # older (or further in the future) timestamps are replayed or skewed


def load_public_key(text: str) -> ec.EllipticCurvePublicKey:
    """Parse the configured key (base64 DER, or PEM); a bad key is a configuration error."""
    text = text.strip()
    try:
        if text.startswith("-----BEGIN"):
            key = load_pem_public_key(text.encode())
        else:
            key = load_der_public_key(base64.b64decode(text, validate=False))
    except (ValueError, binascii.Error, TypeError):
        raise ConfigError(
            "NEWSLETTER_SENDGRID_WEBHOOK_PUBLIC_KEY: not a base64 DER public key "
            "(copy the 'Verification Key' from SendGrid's Signed Event Webhook settings)"
        ) from None
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise ConfigError(
            "NEWSLETTER_SENDGRID_WEBHOOK_PUBLIC_KEY: expected an ECDSA (P-256) public key"
        )
    return key


def verify(
    key: ec.EllipticCurvePublicKey,
    signature_b64: str | None,
    timestamp: str | None,
    body: bytes,
    *,
    now: float | None = None,
    max_age: int = MAX_AGE_SECONDS,
) -> bool:
    """True only for a well-formed, valid signature on a fresh timestamp."""
    if not signature_b64 or not timestamp:
        return False
    try:
        sent_at = int(timestamp.strip())
        signature = base64.b64decode(signature_b64.strip(), validate=True)
    except (ValueError, binascii.Error):
        return False
    current = time.time() if now is None else now
    if abs(current - sent_at) > max_age:
        return False
    try:
        key.verify(signature, timestamp.strip().encode() + body, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError):
        return False
    return True
