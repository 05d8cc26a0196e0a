"""`newsletter doctor`: every check, in the order of the screen, for the From address of the
list checked (`--list`, else the default list; `--domain` puts another domain in its place)."""

from __future__ import annotations

import dataclasses
from typing import Any

from newsletter.config import Settings
from newsletter.sending.doctor.auth_checks import dkim_findings, spf_findings
from newsletter.sending.doctor.domain import Names
from newsletter.sending.doctor.findings import FAIL, Finding
from newsletter.sending.doctor.lookup import Lookup
from newsletter.sending.doctor.message_checks import message_findings
from newsletter.sending.doctor.policy_checks import dmarc_findings, info_findings, mx_findings


@dataclasses.dataclass(frozen=True)
class Diagnosis:
    names: Names
    findings: list[Finding]

    @property
    def failed(self) -> bool:
        return any(f.status == FAIL for f in self.findings)

    def as_dict(self) -> dict[str, Any]:
        return {
            "from": self.names.from_address,
            "return_path_domain": self.names.return_domain,
            "dkim_domain": self.names.dkim_domain,
            "backend": self.names.backend,
            "failed": self.failed,
            "checks": [f.as_dict() for f in self.findings],
        }


def diagnose(
    settings: Settings, the_list: dict[str, Any] | None = None, domain: str = ""
) -> Diagnosis:
    """Read the domain's records and build the message; ConfigError only for a bad
    `dns_resolver` (every other trouble is a finding)."""
    the_list = dict(the_list or {"slug": settings.default_list, "name": settings.default_list})
    from_address = the_list.get("from_address") or settings.sender_address
    if domain:
        from_address = f"{from_address.rpartition('@')[0] or 'newsletter'}@{domain.strip('.')}"
        the_list["from_address"] = from_address  # the defaults that follow From follow it
        settings = dataclasses.replace(settings, sender_address=from_address)
    names = Names.of(settings, from_address)
    lookup = Lookup(settings.dns_resolver, settings.sources.get("dns_resolver", "dns_resolver"))
    findings = spf_findings(settings, names, lookup)
    findings += dkim_findings(settings, names, lookup)
    findings += dmarc_findings(names, lookup)
    findings += mx_findings(names, lookup)
    findings += message_findings(settings, names, the_list)
    findings += info_findings(names, lookup)
    return Diagnosis(names, findings)
