"""SPF (RFC 7208) on the return-path domain: one record, at most 10 DNS lookups and 2 void
lookups over the whole tree of includes and redirects (§4.6.4, counted here: dnspython reads,
this module counts), no `+all`, and a pass for the relay's public addresses."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from newsletter.sending.doctor.lookup import Lookup

LOOKUP_LIMIT, VOID_LIMIT = 10, 2
_COUNTED = ("include", "a", "mx", "ptr", "exists", "redirect")


@dataclass
class Walk:
    """What the whole SPF tree costs and says."""

    lookups: int = 0
    voids: int = 0
    trouble: str = ""
    problems: list[str] = field(default_factory=list)
    includes: list[str] = field(default_factory=list)


def spf_record(lookup: Lookup, domain: str) -> tuple[list[str], str]:
    """The v=spf1 records at `domain`, and any trouble reading them."""
    found, answer = lookup.txt_starting(domain, "v=spf1")
    found = [r for r in found if r.lower() == "v=spf1" or r.lower().startswith("v=spf1 ")]
    return found, answer.trouble


def _target(term: str, domain: str) -> str:
    name = term.split(":", 1)[1] if ":" in term else domain
    return name.split("/")[0]


def walk(lookup: Lookup, domain: str, out: Walk | None = None, depth: int = 0) -> Walk:
    """Count the DNS lookups of `domain`'s SPF record and everything it includes."""
    out = out or Walk()
    records, trouble = spf_record(lookup, domain)
    if trouble or depth > 12:
        out.trouble = out.trouble or trouble or f"{domain}: includes nested too deep"
        return out
    if len(records) != 1:
        out.problems.append(f"{domain} has {len(records)} SPF records (need exactly 1)")
        return out
    for term in records[0].split()[1:]:
        name = term.lstrip("+-~?").lower()
        mechanism = name.split(":")[0].split("=")[0].split("/")[0]
        if mechanism not in _COUNTED:
            continue
        out.lookups += 1
        if out.lookups > LOOKUP_LIMIT:  # permerror already: a record including itself ends here
            return out
        target = name.split("=", 1)[1] if mechanism == "redirect" else _target(name, domain)
        if mechanism in ("include", "redirect"):
            out.includes.append(target)
            found, trouble = spf_record(lookup, target)
            if not found and not trouble:
                out.voids += 1
                out.problems.append(f"{mechanism} {target} has no SPF record")
                continue
            walk(lookup, target, out, depth + 1)
        elif mechanism in ("a", "mx", "exists"):
            kind = {"a": "A", "mx": "MX", "exists": "A"}[mechanism]
            answer = lookup(target, kind)
            out.trouble = out.trouble or answer.trouble
            out.voids += answer.void
            if mechanism == "mx":
                for mx in answer.records:
                    host = mx.split()[-1].rstrip(".")
                    if host:
                        lookup.addresses(host)
    return out


def evaluate(
    lookup: Lookup, domain: str, ip: str, depth: int = 0, budget: list[int] | None = None
) -> str:
    """The SPF result for `ip` sending for `domain`: pass, fail, softfail, neutral, none,
    permerror or temperror (a simplified evaluator: no macros; past the 10 lookups every
    receiver allows, permerror)."""
    budget = [LOOKUP_LIMIT] if budget is None else budget
    records, trouble = spf_record(lookup, domain)
    if trouble:
        return "temperror"
    if len(records) != 1 or depth > 10 or budget[0] < 0:
        return "none" if not records else "permerror"
    address = ipaddress.ip_address(ip)
    redirect = ""
    for term in records[0].split()[1:]:
        qualifier = term[0] if term[0] in "+-~?" else "+"
        name = term.lstrip("+-~?").lower()
        if name.startswith("redirect="):
            redirect = name.split("=", 1)[1]
            continue
        if _matches(lookup, name, domain, address, depth, budget):
            return {"+": "pass", "-": "fail", "~": "softfail", "?": "neutral"}[qualifier]
        if budget[0] < 0:
            return "permerror"
    if redirect:
        budget[0] -= 1
        return evaluate(lookup, redirect, ip, depth + 1, budget)
    return "neutral"


def _matches(
    lookup: Lookup, name: str, domain: str, address: object, depth: int, budget: list[int]
) -> bool:
    mechanism = name.split(":")[0].split("/")[0]
    if mechanism == "all":
        return True
    if mechanism in _COUNTED:
        budget[0] -= 1
        if budget[0] < 0:
            return False
    if mechanism in ("ip4", "ip6"):
        try:
            return address in ipaddress.ip_network(name.split(":", 1)[1], strict=False)
        except ValueError:
            return False
    if mechanism == "include":
        return evaluate(lookup, _target(name, domain), str(address), depth + 1, budget) == "pass"
    if mechanism == "a":
        return str(address) in lookup.addresses(_target(name, domain))[0]
    if mechanism == "mx":
        hosts = [r.split()[-1].rstrip(".") for r in lookup(_target(name, domain), "MX").records]
        return any(str(address) in lookup.addresses(h)[0] for h in hosts)
    return False
