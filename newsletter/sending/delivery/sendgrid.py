"""SendGrid delivery: /v3/mail/send with up to 1000 personalizations per request.

The request body is built by `sendgrid_body` (one HTML body, per-recipient `substitutions`).

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

from newsletter.config import Settings
from newsletter.errors import BackendConfigError, RelayOutage
from newsletter.models import FAILED, SENT, UNKNOWN, Recipient, SendResult
from newsletter.sending.delivery.base import Backend, Unsent
from newsletter.sending.delivery.keepalive import AnswerLost, KeptAlive, NotSent
from newsletter.sending.delivery.sendgrid_body import (
    common_part,
    personalization,
    substitution_bytes,
)
from newsletter.sending.mime.message import MessageTemplate

MAX_PER_REQUEST = 1000
MAX_SUBSTITUTION_BYTES = 10_000
CALM_STEP = 0.25  # seconds: a 429's pause is waited out in steps, so a stop cuts it short


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
        self._down_since: float | None = None  # trouble for every request since (an outage)
        self._accepted = 0  # requests accepted, by every lane
        self._calm_lock = threading.Lock()

    # --- request body ------------------------------------------------------------------------

    def _common(self, template: MessageTemplate) -> dict[str, Any]:
        """The part of the body shared by every request of this template (cached)."""
        if not (self._base and self._base[0] is template):
            self._base = (template, common_part(template))
        return self._base[1]

    def personalization(self, template: MessageTemplate, recipient: Recipient) -> dict[str, Any]:
        return personalization(self._common(template), template, recipient)

    # --- sending -----------------------------------------------------------------------------

    def send(self, template: MessageTemplate, recipients: Sequence[Recipient]) -> list[SendResult]:
        results: list[SendResult | None] = [None] * len(recipients)
        ready: list[tuple[int, dict[str, Any]]] = []
        for i, recipient in enumerate(recipients):
            item = self.personalization(template, recipient)
            size = substitution_bytes(item.get("substitutions", {}))
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
        except BackendConfigError as exc:  # RelayOutage too
            raise type(exc)(str(exc), [r for r in results if r is not None]) from None
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
        """(outcome, detail): accepted | invalid | too large | failed | unknown | stopped.
        Trouble that every request meets (5xx, 429, connection errors, nothing accepted since)
        is an outage: retried with backoff, attempts not counted, until `outage_timeout`.
        Trouble while other requests get through counts toward `max_attempts`."""
        body = orjson.dumps(dict(self._common(template)["body"], personalizations=items))
        reason, tries, failures, throttled, seen = "", 0, 0, False, self._accepted
        while True:
            if failures and not throttled:  # a 429's pause is the shared calm
                self.pause(min(failures, 16))
            self._wait_calm()
            if may_stop and self.stopping.is_set():
                return "stopped", reason  # no retry starts once the send stops
            if self._outage_over():
                raise RelayOutage(
                    f"the SendGrid API at {self.settings.sendgrid_api_host} failed every "
                    f"request for {self.settings.outage_timeout:g} s (outage_timeout; its last "
                    f"answer: {reason}): the send is paused"
                )
            outcome, detail = self._try(body, failures + 1)
            if outcome != "again":
                return outcome, detail
            reason, failures, throttled = (
                detail,
                failures + 1,
                detail.startswith("SendGrid HTTP 429"),
            )
            if self._accepted != seen:  # others got through: this request's own trouble
                tries += 1
                if tries >= self.max_attempts:
                    return "failed", f"gave up after {tries} attempts: {reason}"

    def _try(self, body: bytes, attempt: int) -> tuple[str, str]:
        """One request: an outcome of `_post`, or ("again", reason) for trouble to retry."""
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
            return self._trouble(f"SendGrid unreachable: {cause}")
        except AnswerLost as exc:  # sent, answer lost
            return (
                "unknown",
                f"no answer from SendGrid after sending ({exc}); may have been delivered",
            )
        self._ever_reached = True
        code = answer.status
        if 200 <= code < 300:
            with self._calm_lock:
                self._down_since, self._accepted = None, self._accepted + 1
            return "accepted", str(answer.headers.get("X-Message-Id", "") or "")
        message = _error_message(answer.body)
        if code in (401, 403):
            raise BackendConfigError(
                f"SendGrid refused the API key (HTTP {code}: {message or 'unauthorized'}); "
                "check SENDGRID_API_KEY and that it has Mail Send permission"
            )
        if code == 413:
            return "too large", f"SendGrid: request too large (413) {message}".strip()
        if code == 429:
            self._calm(attempt)
        if code == 429 or code >= 500:
            return self._trouble(f"SendGrid HTTP {code} {message}".strip())
        return "invalid", f"SendGrid HTTP {code}: {message or 'Bad Request'}"

    def _trouble(self, reason: str) -> tuple[str, str]:
        """Trouble to retry; with nothing accepted since, an outage is under way."""
        with self._calm_lock:
            if self._down_since is None:
                self._down_since = time.monotonic()
        return "again", reason

    def _outage_over(self) -> bool:
        since = self._down_since
        return since is not None and time.monotonic() - since >= self.settings.outage_timeout

    def halt(self) -> None:
        self.http.close(at_once=True)  # a lane waiting for an answer gets AnswerLost

    def close(self) -> None:
        self.http.close()
