"""The DMARC, MX and informational checks (MTA-STS, TLS-RPT, BIMI, reverse DNS)."""

from __future__ import annotations

import re

from newsletter.sending.doctor.auth_checks import tags
from newsletter.sending.doctor.domain import Names, aligned, organisational
from newsletter.sending.doctor.findings import FAIL, INFO, PASS, WARN, Finding, could_not_check, txt
from newsletter.sending.doctor.lookup import Lookup, is_public


def dmarc_record(lookup: Lookup, domain: str) -> tuple[str, str, str]:
    """(record, the name it was found at, trouble): the From domain's, else its
    organisational domain's (RFC 7489 §6.6.3)."""
    for name in dict.fromkeys((f"_dmarc.{domain}", f"_dmarc.{organisational(domain)}")):
        found, answer = lookup.txt_starting(name, "v=DMARC1")
        if answer.trouble:
            return "", name, answer.trouble
        if found:
            return found[0], name, ""
    return "", f"_dmarc.{domain}", ""


def dmarc_findings(names: Names, lookup: Lookup) -> list[Finding]:
    record, name, trouble = dmarc_record(lookup, names.from_domain)
    if trouble:
        return [could_not_check("DMARC", "record", trouble)]
    rua = f"mailto:dmarc-reports@{names.from_domain}"
    if not record:
        return [
            Finding(
                "DMARC",
                "record",
                FAIL,
                f"{name}: no DMARC record (Gmail and Yahoo require one)",
                txt(f"_dmarc.{names.from_domain}", f"v=DMARC1; p=quarantine; rua={rua}"),
            )
        ]
    values = tags(record)
    policy = values.get("p", "").lower()
    out = []
    if policy not in ("none", "quarantine", "reject"):
        fix = txt(name, f"v=DMARC1; p=quarantine; rua={rua}")
        out.append(Finding("DMARC", "policy", FAIL, f'{name}: "{record}" has no valid p=', fix))
    elif policy == "none":
        out.append(
            Finding(
                "DMARC",
                "policy",
                WARN,
                f'{name}: "{record}": p=none only reports; receivers treat forged mail as '
                "yours and some (Yahoo) file unprotected bulk mail as spam",
                "once the reports show your own mail aligned, publish p=quarantine: "
                + txt(name, re.sub(r"(?i)\bp\s*=\s*none", "p=quarantine", record, count=1)),
            )
        )
    else:
        out.append(Finding("DMARC", "policy", PASS, f'{name}: "{record}"'))
    note = (
        f"reports go to {values['rua']}"
        if values.get("rua")
        else (
            f"no rua=: nobody receives the aggregate reports; add rua={rua} to see who sends as "
            f"{names.from_domain}"
        )
    )
    out.append(Finding("DMARC", "reports", INFO, note))
    return out + [_alignment(names, values)]


def _alignment(names: Names, values: dict[str, str]) -> Finding:
    adkim, aspf = values.get("adkim", "r").lower(), values.get("aspf", "r").lower()
    dkim_ok = aligned(names.dkim_domain, names.from_domain, adkim)
    spf_ok = aligned(names.return_domain, names.from_domain, aspf)
    dkim_side = (
        f"DKIM d={names.dkim_domain} {'is' if dkim_ok else 'is not'} aligned (adkim={adkim})"
    )
    spf_side = (
        f"SPF domain {names.return_domain} {'is' if spf_ok else 'is not'} aligned (aspf={aspf})"
    )
    evidence = f"From {names.from_domain}: {dkim_side}; {spf_side}"
    verp = ""
    if not spf_ok and names.verp:
        verp = (
            f"; the VERP trap: the return path is bounce_address @{names.return_domain}, so "
            f"SPF is judged on {names.return_domain}, not on {names.from_domain}"
        )
    fix_spf = (
        f"set bounce_address to an address at {names.from_domain}"
        + (" or one of its subdomains (with aspf=r)" if aspf == "r" else "")
        if names.verp
        else f"send with a From address at {names.return_domain}"
    )
    if dkim_ok and spf_ok:
        return Finding("DMARC", "alignment", PASS, evidence)
    if dkim_ok:
        return Finding(
            "DMARC",
            "alignment",
            WARN,
            evidence + verp + ": DMARC rests on DKIM "
            "alone, and a forwarded message that loses its signature fails",
            fix_spf,
        )
    fix = f"set dkim_domain to {names.from_domain} (or leave it empty)"
    if not spf_ok:
        fix += f", and {fix_spf}"
    return Finding("DMARC", "alignment", FAIL, evidence + verp + ": DMARC fails", fix)


def mx_findings(names: Names, lookup: Lookup) -> list[Finding]:
    out = []
    wanted = {}
    if names.verp:
        wanted[names.return_domain] = "the bounce address"
    wanted.setdefault(names.unsubscribe_domain, "the unsubscribe_mailto address")
    for domain, what in wanted.items():
        answer = lookup(domain, "MX")
        if answer.trouble:
            out.append(could_not_check("MX", domain, answer.trouble))
            continue
        hosts = [r.split()[-1].rstrip(".") for r in answer.records]
        if hosts and hosts != [""]:
            out.append(Finding("MX", domain, PASS, f"{what}: MX {', '.join(hosts)}"))
            continue
        addresses, trouble = ([], "") if answer.records else lookup.addresses(domain)
        if addresses:
            out.append(Finding("MX", domain, PASS, f"{what}: no MX, mail goes to its A record"))
        elif trouble:
            out.append(could_not_check("MX", domain, trouble))
        else:
            fix = f"publish an MX record for {domain} naming the server that receives its mail"
            out.append(Finding("MX", domain, FAIL, f"{what}: {domain} accepts no mail", fix))
    return out


def info_findings(names: Names, lookup: Lookup) -> list[Finding]:
    domain, out = names.from_domain, []
    for label, name, prefix in (
        ("MTA-STS", f"_mta-sts.{domain}", "v=STSv1"),
        ("TLS-RPT", f"_smtp._tls.{domain}", "v=TLSRPTv1"),
        ("BIMI", f"default._bimi.{domain}", "v=BIMI1"),
    ):
        found, answer = lookup.txt_starting(name, prefix)
        said = answer.trouble or (f'"{found[0]}"' if found else "none published")
        out.append(Finding("info", label, INFO, f"{name}: {said}"))
    addresses, _ = lookup.addresses(names.smtp_host)
    for address in [a for a in addresses if is_public(a)][:2]:
        import dns.reversename

        answer = lookup(dns.reversename.from_address(address).to_text(), "PTR")
        said = answer.trouble or (", ".join(answer.records) or "no PTR record")
        out.append(Finding("info", "reverse DNS", INFO, f"{address}: {said}"))
    return out
