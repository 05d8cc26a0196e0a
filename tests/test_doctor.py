"""`newsletter doctor` against a real DNS server (tests/support/dns_server.py, on a free port
of 127.0.0.1, named by `dns_resolver`): on a zone where everything is right every check
passes; on each broken zone the check that should, fails or warns, with the fix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from newsletter.config import load_settings
from newsletter.sending.doctor.findings import FAIL, INFO, PASS, WARN, Finding
from newsletter.sending.doctor.run import diagnose
from tests.support import dns_zones as zones
from tests.support.dkim_verify import ed25519_pair, rsa_pair
from tests.support.dns_server import DnsServer
from tests.support.sending import run_cli

KEY = rsa_pair()


def _diagnose(workdir: Path, dns: DnsServer, zone: zones.Zone, **env: str) -> list[Finding]:
    dns.serve(zone)
    settings = load_settings(cwd=workdir, env=zones.good_env(KEY, dns.where) | env)
    return diagnose(settings).findings


def _one(findings: list[Finding], area: str, check: str) -> Finding:
    (found,) = [f for f in findings if f.area == area and f.check == check]
    return found


def test_all_good_passes_every_check(workdir: Path, dns: DnsServer) -> None:
    findings = _diagnose(workdir, dns, zones.good_zone(KEY))
    assert [f for f in findings if f.status not in (PASS, INFO)] == []
    checks = {(f.area, f.check) for f in findings if f.status == PASS}
    assert {("SPF", "record"), ("SPF", "DNS lookups"), ("SPF", "all"), ("SPF", "relay"),
            ("DKIM", "record"), ("DKIM", "RSA key size"), ("DMARC", "policy"),
            ("DMARC", "alignment"), ("MX", zones.DOMAIN), ("message", "one-click unsubscribe"),
            ("message", "site_url"), ("message", "postal address"), ("message", "From domain"),
            ("message", "size")} <= checks  # fmt: skip
    assert f"passes {zones.RELAY_IP}" in _one(findings, "SPF", "relay").evidence
    assert "v=STSv1" in _one(findings, "info", "MTA-STS").evidence
    assert zones.RELAY in _one(findings, "info", "reverse DNS").evidence
    assert "none published" in _one(findings, "info", "BIMI").evidence


def test_the_cli_says_it_on_one_screen_and_exits_by_the_verdict(
    workdir: Path, dns: DnsServer
) -> None:
    dns.serve(zones.good_zone(KEY))
    env = zones.good_env(KEY, dns.where)
    run = run_cli("doctor", env=env, cwd=workdir)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.startswith(f"newsletter doctor: From letters@{zones.DOMAIN}")
    assert "FAIL" not in run.stdout and "0 fail" in run.stdout
    assert len(run.stdout.splitlines()) < 40
    dns.serve(zones.without_dkim(zones.good_zone(KEY)))
    run = run_cli("doctor", "--json", env=env, cwd=workdir)
    assert run.returncode == 1
    report = json.loads(run.stdout)
    assert report["failed"] is True
    (dkim,) = [c for c in report["checks"] if c["area"] == "DKIM" and c["check"] == "record"]
    assert dkim["status"] == FAIL and KEY.public in dkim["fix"]


def test_spf_with_eleven_lookups_fails(workdir: Path, dns: DnsServer) -> None:
    finding = _one(
        _diagnose(workdir, dns, zones.eleven_lookups(zones.good_zone(KEY))), "SPF", "DNS lookups"
    )
    assert finding.status == FAIL and finding.evidence.startswith("11 DNS lookups (at most 10)")
    assert "ip4:" in finding.fix


def test_spf_plus_all_fails(workdir: Path, dns: DnsServer) -> None:
    finding = _one(_diagnose(workdir, dns, zones.plus_all(zones.good_zone(KEY))), "SPF", "all")
    assert finding.status == FAIL and "+all" in finding.evidence and "-all" in finding.fix


def test_a_missing_dkim_record_fails_with_the_record_to_publish(
    workdir: Path, dns: DnsServer
) -> None:
    finding = _one(
        _diagnose(workdir, dns, zones.without_dkim(zones.good_zone(KEY))), "DKIM", "record"
    )
    assert finding.status == FAIL and "no DKIM record" in finding.evidence
    assert finding.fix == f's1._domainkey.{zones.DOMAIN}. TXT "v=DKIM1; k=rsa; p={KEY.public}"'


def test_a_dkim_record_for_another_key_fails(workdir: Path, dns: DnsServer) -> None:
    zone = zones.other_dkim_key(zones.good_zone(KEY), rsa_pair(2048, 1))
    finding = _one(_diagnose(workdir, dns, zone), "DKIM", "record")
    assert finding.status == FAIL and "for another key" in finding.evidence
    assert KEY.public in finding.fix


def test_an_ed25519_key_matches_its_record(workdir: Path, dns: DnsServer) -> None:
    key = ed25519_pair()
    dns.serve(zones.good_zone(key))
    settings = load_settings(cwd=workdir, env=zones.good_env(key, dns.where))
    finding = _one(diagnose(settings).findings, "DKIM", "record")
    assert finding.status == PASS and "ed25519" in finding.evidence


def test_dmarc_p_none_warns_with_its_reason(workdir: Path, dns: DnsServer) -> None:
    findings = _diagnose(workdir, dns, zones.dmarc_none(zones.good_zone(KEY)))
    policy = _one(findings, "DMARC", "policy")
    assert policy.status == WARN and "p=none only reports" in policy.evidence
    assert "p=quarantine" in policy.fix
    assert "no rua=" in _one(findings, "DMARC", "reports").evidence


def test_a_verp_bounce_domain_that_is_not_aligned_is_named(workdir: Path, dns: DnsServer) -> None:
    zone = zones.verp_elsewhere(zones.good_zone(KEY))
    findings = _diagnose(
        workdir, dns, zone, NEWSLETTER_BOUNCE_ADDRESS=f"bounces@{zones.BOUNCE_DOMAIN}"
    )
    finding = _one(findings, "DMARC", "alignment")
    assert finding.status == WARN
    assert "the VERP trap" in finding.evidence and zones.BOUNCE_DOMAIN in finding.evidence
    assert f"set bounce_address to an address at {zones.DOMAIN}" in finding.fix
    assert _one(findings, "SPF", "record").status == PASS  # SPF itself is fine, elsewhere


def test_no_mx_on_the_bounce_domain_fails(workdir: Path, dns: DnsServer) -> None:
    bounce = f"bounces.{zones.DOMAIN}"
    findings = _diagnose(
        workdir, dns, zones.no_bounce_mx(zones.good_zone(KEY)),
        NEWSLETTER_BOUNCE_ADDRESS=f"bounces@{bounce}",
    )  # fmt: skip
    finding = _one(findings, "MX", bounce)
    assert finding.status == FAIL and "accepts no mail" in finding.evidence
    assert f"publish an MX record for {bounce}" in finding.fix
    assert _one(findings, "MX", zones.DOMAIN).status == PASS  # unsubscribe_mailto's domain


def test_a_servfail_zone_is_could_not_check_never_a_pass(workdir: Path, dns: DnsServer) -> None:
    dns.serve(zones.good_zone(KEY), servfail=[zones.DOMAIN])
    settings = load_settings(cwd=workdir, env=zones.good_env(KEY, dns.where))
    findings = diagnose(settings).findings
    dns_areas = [
        f for f in findings if f.area in ("SPF", "DKIM", "DMARC", "MX") and "size" not in f.check
    ]
    assert dns_areas and all(f.status == WARN for f in dns_areas), dns_areas
    assert all(f.evidence.startswith("could not check") for f in dns_areas)


def test_a_resolver_that_does_not_answer_is_could_not_check(workdir: Path) -> None:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:  # bound, never answers
        silent.bind(("127.0.0.1", 0))
        where = f"127.0.0.1:{silent.getsockname()[1]}"
        env = zones.good_env(KEY, where) | {"NEWSLETTER_DNS_RESOLVER": where}
        settings = load_settings(cwd=workdir, env=env)
        findings = diagnose(settings).findings
    spf = _one(findings, "SPF", "record")
    assert spf.status == WARN and "time-out" in spf.evidence


@pytest.mark.parametrize("value", ["localhost:53", "127.0.0.1:99999", "1.2.3.4:x"])
def test_a_bad_dns_resolver_is_one_line(workdir: Path, value: str) -> None:
    run = run_cli("doctor", env={"NEWSLETTER_DNS_RESOLVER": value}, cwd=workdir)
    assert run.returncode == 1
    assert run.stderr.count("\n") == 1 and "dns_resolver must be an IP address" in run.stderr


def test_sendgrid_is_checked_by_its_cnames_and_include(workdir: Path, dns: DnsServer) -> None:
    zone = zones.good_zone(KEY)
    zone[f"s1._domainkey.{zones.DOMAIN}"] = [("CNAME", "s1.domainkey.u1.wl.sendgrid.net")]
    zone["s1.domainkey.u1.wl.sendgrid.net"] = [("TXT", KEY.record())]
    findings = _diagnose(workdir, dns, zone, NEWSLETTER_BACKEND="sendgrid", SENDGRID_API_KEY="SG.x")
    assert _one(findings, "DKIM", "SendGrid s1").status == PASS
    s2 = _one(findings, "DKIM", "SendGrid s2")
    assert s2.status == FAIL and "CNAME" in s2.fix
    include = _one(findings, "SPF", "SendGrid")
    assert include.status == FAIL and "include:sendgrid.net" in include.fix


def test_a_free_mail_from_address_fails(workdir: Path, dns: DnsServer) -> None:
    findings = _diagnose(
        workdir, dns, zones.good_zone(KEY), NEWSLETTER_SENDER_ADDRESS="me@gmail.com"
    )
    finding = _one(findings, "message", "From domain")
    assert finding.status == FAIL and "domain you own" in finding.fix


def test_list_and_domain_options_choose_the_from_checked(workdir: Path, dns: DnsServer) -> None:
    dns.serve(zones.good_zone(KEY))
    env = zones.good_env(KEY, dns.where) | {"DATABASE_URL": f"sqlite:///{workdir / 'n.db'}"}
    made = run_cli(
        "lists", "create", "weekly", "--name", "Weekly",
        "--from-address", f"weekly@{zones.DOMAIN}", env=env, cwd=workdir,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    run = run_cli("doctor", "--json", "--list", "weekly", env=env, cwd=workdir)
    assert json.loads(run.stdout)["from"] == f"weekly@{zones.DOMAIN}", run.stderr
    assert run.returncode == 0
    run = run_cli("doctor", "--json", "--domain", "elsewhere.example", env=env, cwd=workdir)
    report = json.loads(run.stdout)
    assert report["from"] == "letters@elsewhere.example"
    assert report["return_path_domain"] == "elsewhere.example" and run.returncode == 1
    spf = [c for c in report["checks"] if c["area"] == "SPF" and c["check"] == "record"]
    assert spf[0]["status"] == FAIL and "has no SPF record" in spf[0]["evidence"]
