"""The SPF and DKIM checks."""

from __future__ import annotations

import re

from newsletter.config import Settings
from newsletter.errors import ConfigError
from newsletter.sending.doctor.domain import Names
from newsletter.sending.doctor.findings import FAIL, INFO, PASS, WARN, Finding, could_not_check, txt
from newsletter.sending.doctor.lookup import Lookup, is_public
from newsletter.sending.doctor.spf import LOOKUP_LIMIT, VOID_LIMIT, evaluate, spf_record, walk

_TAG = re.compile(r"\s*([a-z]+)\s*=\s*([^;]*)")


def tags(record: str) -> dict[str, str]:
    """A DKIM or DMARC record's tags (`k=v;` pairs), names lower-cased, blanks removed."""
    return {m[1].lower(): re.sub(r"\s+", "", m[2]) for m in _TAG.finditer(record)}


def spf_findings(settings: Settings, names: Names, lookup: Lookup) -> list[Finding]:
    domain = names.return_domain
    which = "the bounce_address domain" if names.verp else "the From domain (VERP is off)"
    records, trouble = spf_record(lookup, domain)
    if trouble:
        return [could_not_check("SPF", "record", trouble)]
    suggest = txt(domain, "v=spf1 mx -all")
    if names.backend == "sendgrid":
        suggest = txt(domain, "v=spf1 include:sendgrid.net -all")
    if not records:
        return [Finding("SPF", "record", FAIL, f"{domain} ({which}) has no SPF record", suggest)]
    if len(records) > 1:
        return [
            Finding(
                "SPF",
                "record",
                FAIL,
                f"{domain} has {len(records)} SPF records: " + " | ".join(records),
                "merge them into one record",
            )
        ]
    record = records[0]
    out = [Finding("SPF", "record", PASS, f'{domain} ({which}): "{record}"')]
    tree = walk(lookup, domain)
    if tree.trouble:
        out.append(could_not_check("SPF", "DNS lookups", tree.trouble))
    elif tree.lookups > LOOKUP_LIMIT or tree.voids > VOID_LIMIT or tree.problems:
        out.append(
            Finding(
                "SPF",
                "DNS lookups",
                FAIL,
                f"{tree.lookups} DNS lookups (at most {LOOKUP_LIMIT}), {tree.voids} void "
                f"(at most {VOID_LIMIT}) across {', '.join(tree.includes) or 'the record'}"
                + "".join(f"; {p}" for p in tree.problems)
                + ": receivers return permerror",
                "remove includes you no longer send through, or replace them with the ip4:/ip6: "
                "ranges they stand for, until the count is 10 or less",
            )
        )
    else:
        out.append(Finding("SPF", "DNS lookups", PASS, f"{tree.lookups} of {LOOKUP_LIMIT}"))
    out.append(_all_finding(domain, record))
    if names.backend == "sendgrid":
        has = "include:sendgrid.net" in record.lower().split()
        fix = "" if has else f"add include:sendgrid.net to the record of {domain}"
        out.append(Finding("SPF", "SendGrid", PASS if has else FAIL, f'"{record}"', fix))
    else:
        out += _relay_findings(names, lookup, domain)
    return out


def _all_finding(domain: str, record: str) -> Finding:
    terms = [t.lower() for t in record.split()[1:]]
    last = next((t for t in terms if t.lstrip("+-~?") == "all"), "")
    if last in ("all", "+all"):
        return Finding(
            "SPF",
            "all",
            FAIL,
            f"{last}: every server on the internet may send as {domain}",
            f"end the record with -all (or ~all) instead of {last}",
        )
    if last == "?all" or (not last and not any(t.startswith("redirect=") for t in terms)):
        return Finding(
            "SPF",
            "all",
            WARN,
            f"{last or 'no all'}: mail from other servers is neutral, not refused",
            "end the record with -all (or ~all)",
        )
    return Finding("SPF", "all", PASS, last or "redirect")


def _relay_findings(names: Names, lookup: Lookup, domain: str) -> list[Finding]:
    addresses, trouble = lookup.addresses(names.smtp_host)
    if trouble and not addresses:
        return [could_not_check("SPF", "relay", trouble)]
    public = [a for a in addresses if is_public(a)]
    if not public:
        return [
            Finding(
                "SPF",
                "relay",
                INFO,
                f"smtp_host {names.smtp_host} is not a public "
                "address: SPF is judged on the address your relay sends from",
            )
        ]
    failing = [a for a in public if evaluate(lookup, domain, a) != "pass"]
    if failing:
        mech = " ".join(("ip6:" if ":" in a else "ip4:") + a for a in failing)
        return [
            Finding(
                "SPF",
                "relay",
                FAIL,
                f"SPF of {domain} does not pass {', '.join(failing)} (smtp_host {names.smtp_host})",
                f"add {mech} to the SPF record of {domain}",
            )
        ]
    return [Finding("SPF", "relay", PASS, f"passes {', '.join(public)} ({names.smtp_host})")]


def dkim_findings(settings: Settings, names: Names, lookup: Lookup) -> list[Finding]:
    if names.backend == "sendgrid":
        return _sendgrid_cnames(names, lookup)
    if not settings.dkim_enabled:
        return [
            Finding(
                "DKIM",
                "signing",
                FAIL,
                "DKIM signing is not configured",
                "make a key (openssl genpkey -algorithm ed25519 / RSA 2048), set "
                "dkim_selector and NEWSLETTER_DKIM_PRIVATE_KEY or "
                "dkim_private_key_file, then run doctor again for the record",
            )
        ]
    from newsletter.sending.mime.dkim_keys import load_keys

    try:
        keys = load_keys(settings)
    except ConfigError as exc:
        return [Finding("DKIM", "key", FAIL, str(exc), "fix the key setting named above")]
    out = []
    for key in keys:
        name = f"{key.selector}._domainkey.{names.dkim_domain}"
        out.append(_selector_finding(name, key.record(), key.public_value(), lookup))
        if key.algorithm == "rsa-sha256":
            bits = key.key.key_size
            status = PASS if bits >= 2048 else WARN
            fix = "" if bits >= 2048 else "make a 2048-bit RSA key and publish its record"
            out.append(Finding("DKIM", "RSA key size", status, f"{bits} bits", fix))
    return out


def _selector_finding(name: str, record: str, public: str, lookup: Lookup) -> Finding:
    found, answer = lookup.txt_starting(name, "")
    if answer.trouble:
        return could_not_check("DKIM", f"record {name}", answer.trouble)
    dkim = [r for r in found if "p=" in r.replace(" ", "")]
    if not dkim:
        return Finding("DKIM", "record", FAIL, f"{name}: no DKIM record", txt(name, record))
    values = tags(dkim[0])
    if values.get("p", "") != public:
        what = "revoked (empty p=)" if not values.get("p") else "for another key"
        return Finding(
            "DKIM",
            "record",
            FAIL,
            f'{name}: "{dkim[0][:80]}..." is {what}',
            "publish the record of the key you sign with: " + txt(name, record),
        )
    return Finding(
        "DKIM", "record", PASS, f"{name} matches the private key ({values.get('k', 'rsa')})"
    )


def _sendgrid_cnames(names: Names, lookup: Lookup) -> list[Finding]:
    out = []
    for selector in ("s1", "s2"):
        name = f"{selector}._domainkey.{names.from_domain}"
        answer = lookup(name, "CNAME")
        if answer.trouble:
            out.append(could_not_check("DKIM", f"SendGrid {selector}", answer.trouble))
        elif answer.records:
            out.append(
                Finding("DKIM", f"SendGrid {selector}", PASS, f"{name} CNAME {answer.records[0]}")
            )
        else:
            out.append(
                Finding(
                    "DKIM",
                    f"SendGrid {selector}",
                    FAIL,
                    f"{name}: no CNAME",
                    "publish the CNAMEs SendGrid's domain authentication "
                    "(Settings > Sender Authentication) gives for this domain",
                )
            )
    return out
