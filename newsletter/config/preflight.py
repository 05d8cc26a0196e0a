"""The settings a real send (smtp, sendgrid) must not go out on: the shipped placeholders, a
site readers cannot reach, addresses that cannot receive mail. One finding per setting, naming
the variable to set; RFC 2606 names that labs and tests use (`example.org`, `.test`) only warn.
The outbox keeps its zero-set-up defaults: its mail never leaves the machine."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

from newsletter.config.settings import Settings

# The shipped placeholders: an operator who has not changed them has not set the tool up.
PLACEHOLDER_SENDER = Settings.sender_address
PLACEHOLDER_POSTAL_ADDRESS = Settings.postal_address
REAL_BACKENDS = ("smtp", "sendgrid")
_UNROUTABLE = (".invalid", ".localhost")  # RFC 2606/6761: mail there never arrives
_RESERVED = (".test", ".example", ".example.com", ".example.net", ".example.org")


@dataclass(frozen=True)
class Finding:
    severity: str  # "error" refuses a real send, "warning" is printed
    message: str

    def __str__(self) -> str:
        return f"{self.severity}: {self.message}"


def _where(settings: Settings, name: str) -> str:
    """How to change `name`: its variable, or the file it came from."""
    source = settings.sources.get(name, "default")
    env = f"NEWSLETTER_{name.upper()}"
    if source == "default":
        return f"set {env} (or {name} in newsletter.toml)"
    return f"change {name} ({source})"


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def site_findings(settings: Settings) -> list[Finding]:
    """A `site_url` readers cannot reach, or reach only over http (Gmail and Yahoo ignore
    one-click unsubscribe over http)."""
    url = urlsplit(settings.site_url)
    host = (url.hostname or "").lower()
    how = _where(settings, "site_url")
    if _is_loopback(host) or not host:
        return [
            Finding(
                "error",
                f"site_url is {settings.site_url}, which readers cannot reach: the unsubscribe "
                f"links would not work; {how} to the web app's public https address",
            )
        ]
    if url.scheme != "https":
        return [
            Finding(
                "error",
                f"site_url is {settings.site_url}: unsubscribe links must be https (mail "
                f"providers ignore one-click over http); {how} to an https address",
            )
        ]
    if _reserved(host):
        return [Finding("warning", f"site_url {settings.site_url}")]
    return []


def _reserved(domain: str) -> bool:
    """An RFC 2606 name: tests and labs use them, readers have none."""
    return domain.endswith(_RESERVED) or domain in ("example.com", "example.net", "example.org")


def _domain(address: str) -> str:
    return address.rpartition("@")[2].strip().strip(">").lower()


def address_findings(settings: Settings) -> list[Finding]:
    """Sender, bounce and Reply-To addresses that are placeholders or cannot receive mail."""
    found: list[Finding] = []
    if settings.sender_address == PLACEHOLDER_SENDER:
        found.append(
            Finding(
                "error",
                f"sender_address is the shipped placeholder {PLACEHOLDER_SENDER}; "
                f"{_where(settings, 'sender_address')} to your own address",
            )
        )
    addresses = {
        "sender_address": settings.sender_address,
        "bounce_address": settings.effective_bounce_address,
        "reply_to": settings.reply_to,
    }
    placeholder = settings.sender_address == PLACEHOLDER_SENDER
    for name, address in addresses.items():
        domain = _domain(address)
        derived = name == "bounce_address" and not settings.bounce_address
        if not address or (placeholder and (name == "sender_address" or derived)):
            continue  # the placeholder sender (and the bounce address on its domain): said above
        if domain in ("localhost", "invalid") or domain.endswith(_UNROUTABLE):
            origin = "sender_address" if derived else name  # a default bounce: on its domain
            found.append(
                Finding(
                    "error",
                    f"{name} {address} can never receive mail; "
                    f"{_where(settings, origin)} to a real address",
                )
            )
        elif _reserved(domain):
            found.append(Finding("warning", f"{name} {address}"))
    return found


def postal_findings(settings: Settings) -> list[Finding]:
    if settings.postal_address.strip() != PLACEHOLDER_POSTAL_ADDRESS:
        return []
    return [
        Finding(
            "error",
            f"postal_address is the shipped placeholder ({PLACEHOLDER_POSTAL_ADDRESS!r}), "
            f"printed in every footer (anti-spam law requires your real one); "
            f"{_where(settings, 'postal_address')}",
        )
    ]


def real_send_findings(settings: Settings, backend: str) -> list[Finding]:
    """What is wrong with these settings for a send through `backend`; nothing for the outbox.
    The reserved example names are one warning, whatever the number of settings using them."""
    if backend not in REAL_BACKENDS:
        return []
    found = site_findings(settings) + address_findings(settings) + postal_findings(settings)
    reserved = [f.message for f in found if f.severity == "warning"]
    errors = [f for f in found if f.severity == "error"]
    if not reserved:
        return errors
    names = ", ".join(reserved)
    return [
        *errors,
        Finding("warning", f"reserved example names in use ({names}): fine for a test"),
    ]
