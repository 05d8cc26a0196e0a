"""The message itself, built from the newest issue in `issues_dir` (else the packaged sample)
through the real message code: List-Unsubscribe with https and mailto plus
List-Unsubscribe-Post (RFC 8058, Gmail and Yahoo's one-click rule), an https `site_url`, a
postal address, a From domain that is not a free-mail one (their DMARC p=reject refuses mail
sent as them from elsewhere; the list is the data file `freemail.txt`), and a size under
Gmail's 102 KB."""

from __future__ import annotations

import email
import email.policy
from functools import cache
from pathlib import Path
from typing import Any

from newsletter.config import Settings
from newsletter.config.settings import Settings as _Defaults
from newsletter.errors import NewsletterError
from newsletter.sending.doctor.domain import Names
from newsletter.sending.doctor.findings import FAIL, PASS, WARN, Finding

GMAIL_CLIPS = 102 * 1024
FREEMAIL = Path(__file__).with_name("freemail.txt")


@cache
def freemail_domains() -> frozenset[str]:
    lines = FREEMAIL.read_text(encoding="utf-8").splitlines()
    return frozenset(x.strip().lower() for x in lines if x.strip() and not x.startswith("#"))


def newest_issue(settings: Settings) -> Path:
    from newsletter.authoring.issue_file import PACKAGED_ISSUES

    folder = Path(settings.issues_dir)
    found = sorted(folder.glob("*.md")) if folder.is_dir() else []
    return found[-1] if found else sorted(PACKAGED_ISSUES.glob("*.md"))[-1]


def build(settings: Settings, the_list: dict[str, Any]) -> tuple[Path, bytes]:
    from newsletter.authoring.issue_file import read_issue
    from newsletter.authoring.render import render_issue
    from newsletter.sending.proof import sample_message

    path = newest_issue(settings)
    rendered = render_issue(read_issue(path), settings)
    return path, sample_message(rendered, settings, the_list)  # what a real send would build


def message_findings(settings: Settings, names: Names, the_list: dict[str, Any]) -> list[Finding]:
    try:
        path, data = build(settings, the_list)
    except NewsletterError as exc:
        return [Finding("message", "build", FAIL, str(exc), "fix the issue, then run doctor")]
    message = email.message_from_bytes(data, policy=email.policy.default)
    out = [_unsubscribe(message, path)]
    https = settings.site_url.lower().startswith("https://")
    out.append(
        Finding(
            "message",
            "site_url",
            PASS if https else FAIL,
            settings.site_url,
            ""
            if https
            else "set site_url to the https address of the web app: mail clients "
            "and Gmail's one-click unsubscribe need https",
        )
    )
    placeholder = settings.postal_address == _Defaults.postal_address
    out.append(
        Finding(
            "message",
            "postal address",
            FAIL if placeholder else PASS,
            settings.postal_address,
            "set postal_address to your real postal address (CAN-SPAM and others require one)"
            if placeholder
            else "",
        )
    )
    free = names.from_domain in freemail_domains()
    out.append(
        Finding(
            "message",
            "From domain",
            FAIL if free else PASS,
            names.from_address,
            f"send from a domain you own: {names.from_domain} publishes DMARC for its own servers "
            "only, so receivers refuse bulk mail sent as it from yours"
            if free
            else "",
        )
    )
    small = len(data) < GMAIL_CLIPS
    out.append(
        Finding(
            "message",
            "size",
            PASS if small else WARN,
            f"{len(data):,} bytes ({path.name})",
            ""
            if small
            else "shorten the issue: Gmail clips messages over 102 KB, hiding the "
            "footer with the unsubscribe link",
        )
    )
    return out


def _unsubscribe(message: Any, path: Path) -> Finding:
    value = str(message.get("List-Unsubscribe", ""))
    post = str(message.get("List-Unsubscribe-Post", ""))
    ok = "<https://" in value and "<mailto:" in value and post == "List-Unsubscribe=One-Click"
    evidence = f"List-Unsubscribe: {value or 'none'}; List-Unsubscribe-Post: {post or 'none'}"
    fix = "" if ok else "set site_url to https and unsubscribe_mailto to a mailbox"
    return Finding("message", "one-click unsubscribe", PASS if ok else FAIL, evidence, fix)
