"""The names the checks are about, from the settings (and `--domain`, `--list`): the From
domain, the return-path domain SPF is checked on, the DKIM d=, the unsubscribe mailbox's
domain; and DMARC's organisational domain, approximated without the Public Suffix List (the
last two labels, three under a known second-level suffix such as co.uk)."""

from __future__ import annotations

from dataclasses import dataclass

from newsletter.config import Settings

_SECOND_LEVEL = frozenset({"co", "com", "net", "org", "gov", "ac", "edu", "ne", "or", "go"})


@dataclass(frozen=True)
class Names:
    from_address: str
    from_domain: str
    return_domain: str  # where SPF is checked: the bounce address's domain, or From's
    verp: bool  # the return path is bounce_address (VERP), not the From address
    dkim_domain: str
    unsubscribe_domain: str
    backend: str
    smtp_host: str

    @classmethod
    def of(cls, settings: Settings, from_address: str) -> Names:
        from_domain = _domain(from_address)
        bounce = settings.effective_bounce_address
        return cls(
            from_address=from_address,
            from_domain=from_domain,
            return_domain=_domain(bounce) if bounce else from_domain,
            verp=bool(bounce),
            dkim_domain=(settings.dkim_domain or from_domain).lower(),
            unsubscribe_domain=_domain(settings.effective_unsubscribe_mailto),
            backend=settings.backend,
            smtp_host=settings.smtp_host,
        )


def _domain(address: str) -> str:
    return address.rpartition("@")[2].strip().strip(">").lower().rstrip(".")


def organisational(domain: str) -> str:
    labels = domain.lower().rstrip(".").split(".")
    if len(labels) >= 3 and len(labels[-1]) == 2 and labels[-2] in _SECOND_LEVEL:
        return ".".join(labels[-3:])
    return ".".join(labels[-2:])


def aligned(domain: str, from_domain: str, mode: str) -> bool:
    """DMARC identifier alignment: strict (`s`) is the same name, relaxed (`r`, the default)
    the same organisational domain."""
    domain, from_domain = domain.lower().rstrip("."), from_domain.lower().rstrip(".")
    if mode == "s":
        return domain == from_domain
    return organisational(domain) == organisational(from_domain)
