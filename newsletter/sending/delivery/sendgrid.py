"""SendGrid delivery: /v3/mail/send with up to 1000 personalizations per request.

One HTML body serves the whole request: per-recipient values travel as ``substitutions``. Each
body context gets its own placeholder spelling (``__NLH_`` in HTML, ``__NLS_`` in the subject,
``__NL_`` in text) so every value is escaped for where it lands. The request body is a plain
dict (the sendgrid helper classes reverse personalization order).

The sendgrid package is the way in (API key, host, its headers); the body is posted over kept-alive
connections (`keepalive.KeptAlive`, one per lane) instead of the package's urllib client, which
opens a new connection, so a new TLS handshake, for every request. `sendgrid_concurrency`
lanes post at once; a 429 pauses them all (`_calm`), not only the one that got it.
"""

from __future__ import annotations

import json
import random
import socket
import threading
import time
from collections.abc import Sequence
from typing import Any

import orjson

from newsletter.authoring.placeholders import PLACEHOLDERS, fill, used_in, values_for
from newsletter.config import Settings
from newsletter.errors import BackendConfigError
from newsletter.models import FAILED, SENT, UNKNOWN, Recipient, SendResult
from newsletter.safe_text import one_line
from newsletter.sending.delivery.base import Backend, Unsent
from newsletter.sending.delivery.keepalive import AnswerLost, KeptAlive, NotSent
from newsletter.sending.mime.message import MessageTemplate

MAX_PER_REQUEST = 1000
MAX_SUBSTITUTION_BYTES = 10_000
CALM_STEP = 0.25  # seconds: a 429's pause is waited out in steps, so a stop cuts it short
_HTML, _SUBJECT = "__NLH_", "__NLS_"


def _in(context: str, key: str) -> str:
    return context + key[len("__NL_") :]


def _substitution_bytes(subs: dict[str, str]) -> int:
    """UTF-8 size of keys and values (an ASCII string's length is its size: no encoding)."""
    joined = "".join(subs) + "".join(subs.values())
    return len(joined) if joined.isascii() else len(joined.encode())


def _error_message(body: bytes | str | None) -> str:
    try:
        errors = json.loads(body or b"{}").get("errors") or []
        return "; ".join(str(e.get("message", "")) for e in errors if isinstance(e, dict)) or ""
    except (ValueError, AttributeError):
        return (body or b"")[:200].decode("utf-8", "replace") if isinstance(body, bytes) else ""


class SendGridBackend(Backend):
    name = "sendgrid"

    def __init__(self, settings: Settings, *, per_request: int = MAX_PER_REQUEST, **retry: Any):
        super().__init__(**retry)
        if not settings.sendgrid_api_key:
            raise BackendConfigError(
                "SENDGRID_API_KEY is not set: create an API key with Mail Send permission "
                "in SendGrid and export it"
            )
        from sendgrid import SendGridAPIClient

        self.settings = settings
        self.per_request = min(per_request, MAX_PER_REQUEST)
        self.unit_size = self.per_request
        self.lanes = self.units_at_once = settings.sendgrid_concurrency
        self.client = SendGridAPIClient(
            api_key=settings.sendgrid_api_key, host=settings.sendgrid_api_host
        )
        self.headers = {
            **self.client.client.request_headers,
            "Content-Type": "application/json",
        }
        self.http = KeptAlive(
            self.client.client.host,
            timeout=settings.sendgrid_timeout,
            idle_limit=settings.sendgrid_keepalive,
        )
        self._ever_reached = False
        self._base: tuple[MessageTemplate, dict[str, Any]] | None = None
        self._calm_until = 0.0  # after a 429, no lane posts before this (monotonic)
        self._calm_lock = threading.Lock()

    # --- request body ------------------------------------------------------------------------

    def _common(self, template: MessageTemplate) -> dict[str, Any]:
        """The part of the body shared by every request of this template (cached)."""
        if self._base and self._base[0] is template:
            return self._base[1]
        # Each context's own placeholder spelling, renamed in one pass like any substitution.
        html = fill(template.html, {k: _in(_HTML, k) for k in PLACEHOLDERS})
        subject = fill(template.subject, {k: _in(_SUBJECT, k) for k in PLACEHOLDERS})
        sender: dict[str, str] = {"email": template.from_address}
        if template.from_name:
            sender["name"] = template.from_name
        body: dict[str, Any] = {
            "from": sender,
            "subject": one_line(subject),
            "content": [
                {"type": "text/plain", "value": template.text},
                {"type": "text/html", "value": html},
            ],
            "headers": {k: v for k, v in template.common.items() if v},
            # Our own unsubscribe link; and we track clicks and opens ourselves, judged
            # (newsletter/tracking): SendGrid must not rewrite links or add its pixel.
            "tracking_settings": {
                "subscription_tracking": {"enable": False},
                "click_tracking": {"enable": False, "enable_text": False},
                "open_tracking": {"enable": False},
            },
        }
        if template.reply_to:
            body["reply_to"] = {"email": template.reply_to}
        used = used_in(template.html, template.text, template.subject)
        self._base = (
            template,
            {
                "body": body,
                "used": used,
                "html_keys": [(k, _in(_HTML, k)) for k in used.html],
                "subject_keys": [(k, _in(_SUBJECT, k)) for k in used.header],
            },
        )
        return self._base[1]

    def personalization(self, template: MessageTemplate, recipient: Recipient) -> dict[str, Any]:
        common = self._common(template)
        # Made inert: SendGrid substitutes on its side, so no value may contain a key.
        values = values_for(recipient, made_inert=True, used=common["used"])
        subs = {h: values.html[k] for k, h in common["html_keys"]}
        subs.update(values.text)
        subs.update({h: values.header[k] for k, h in common["subject_keys"]})
        to: dict[str, str] = {"email": recipient.email}
        name = one_line(recipient.name, also=",;")  # SendGrid writes the To: line itself
        if name:
            to["name"] = name
        item: dict[str, Any] = {
            "to": [to],
            "headers": template.personal_headers(recipient),
            "custom_args": {
                "send_ref": template.send_ref,
                "subscriber_id": str(recipient.subscriber_id),
            },
        }
        if subs:
            item["substitutions"] = subs
        return item

    # --- sending -----------------------------------------------------------------------------

    def send(self, template: MessageTemplate, recipients: Sequence[Recipient]) -> list[SendResult]:
        results: list[SendResult | None] = [None] * len(recipients)
        ready: list[tuple[int, dict[str, Any]]] = []
        for i, recipient in enumerate(recipients):
            item = self.personalization(template, recipient)
            size = _substitution_bytes(item.get("substitutions", {}))
            if size > MAX_SUBSTITUTION_BYTES:
                results[i] = SendResult(
                    recipient.subscriber_id,
                    FAILED,
                    f"personal values take {size} bytes, over SendGrid's "
                    f"{MAX_SUBSTITUTION_BYTES}-byte substitution limit",
                )
            else:
                ready.append((i, item))
        try:
            for start in range(0, len(ready), self.per_request):
                self._deliver(
                    template, recipients, ready[start : start + self.per_request], results
                )
        except BackendConfigError as exc:
            raise BackendConfigError(str(exc), [r for r in results if r is not None]) from None
        return [r for r in results if r is not None]

    def _deliver(
        self,
        template: MessageTemplate,
        recipients: Sequence[Recipient],
        items: list[tuple[int, dict[str, Any]]],
        results: list[SendResult | None],
    ) -> None:
        """Post ``items``; on 400/413 split in halves until the bad recipients are isolated."""
        # Once the send stops a retry does not start, unless part of the unit went out.
        may_stop = all(r is None for r in results)
        outcome, detail = self._post(template, [item for _, item in items], may_stop)
        if outcome == "stopped":
            raise Unsent(detail)
        if outcome in ("invalid", "too large") and len(items) > 1:
            half = len(items) // 2
            self._deliver(template, recipients, items[:half], results)
            self._deliver(template, recipients, items[half:], results)
            return
        status = {"accepted": SENT, "unknown": UNKNOWN}.get(outcome, FAILED)
        for i, _ in items:
            sid = recipients[i].subscriber_id
            if status == SENT:
                results[i] = SendResult(sid, SENT, "202 accepted", provider_id=detail)
            else:
                results[i] = SendResult(sid, status, detail)

    def _calm(self, attempt: int) -> None:
        """A 429: every lane waits, with backoff and jitter (the rate limit is per account)."""
        ceiling = min(self.backoff_cap, self.backoff * (2 ** (attempt - 1)))
        with self._calm_lock:
            until = time.monotonic() + random.uniform(ceiling / 2, ceiling)
            self._calm_until = max(self._calm_until, until)

    def _wait_calm(self) -> None:
        while (ahead := self._calm_until - time.monotonic()) > 0 and not self.stopping.is_set():
            time.sleep(min(ahead, CALM_STEP))

    def _post(
        self, template: MessageTemplate, items: list[dict[str, Any]], may_stop: bool = False
    ) -> tuple[str, str]:
        """(outcome, detail): accepted | invalid | too large | failed | unknown | stopped."""
        body = orjson.dumps(dict(self._common(template)["body"], personalizations=items))
        reason, throttled = "", False
        for attempt in range(1, self.max_attempts + 1):
            if attempt > 1 and not throttled:
                self.pause(attempt - 1)
            self._wait_calm()
            if may_stop and self.stopping.is_set():
                return "stopped", reason  # no retry starts once the send stops
            try:
                answer = self.http.post("/v3/mail/send", body, self.headers)
            except NotSent as exc:  # the request did not go out: safe to retry
                cause = exc.cause
                if not self._ever_reached and isinstance(
                    cause, (ConnectionRefusedError, socket.gaierror)
                ):
                    raise BackendConfigError(
                        f"cannot reach the SendGrid API at {self.settings.sendgrid_api_host}: "
                        f"{cause} (check sendgrid_api_host)"
                    ) from None
                reason, throttled = f"SendGrid unreachable: {cause}", False
                continue
            except AnswerLost as exc:  # sent, answer lost
                return (
                    "unknown",
                    f"no answer from SendGrid after sending ({exc}); may have been delivered",
                )
            self._ever_reached = True
            code = answer.status
            if 200 <= code < 300:
                return "accepted", str(answer.headers.get("X-Message-Id", "") or "")
            message = _error_message(answer.body)
            if code in (401, 403):
                raise BackendConfigError(
                    f"SendGrid refused the API key (HTTP {code}: {message or 'unauthorized'}); "
                    "check SENDGRID_API_KEY and that it has Mail Send permission"
                )
            if code == 413:
                return "too large", f"SendGrid: request too large (413) {message}".strip()
            if code == 429 or code >= 500:
                reason, throttled = f"SendGrid HTTP {code} {message}".strip(), code == 429
                if throttled:
                    self._calm(attempt)
                continue
            return "invalid", f"SendGrid HTTP {code}: {message or 'Bad Request'}"
        return "failed", f"gave up after {self.max_attempts} attempts: {reason}"

    def halt(self) -> None:
        self.http.close(at_once=True)  # a lane waiting for an answer gets AnswerLost

    def close(self) -> None:
        self.http.close()
