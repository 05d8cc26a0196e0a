"""The zones the doctor tests serve: one where everything is right for `news.example`, and
each broken case as a change to it. Addresses are public ones that nothing ever connects to:
`doctor` only looks names up (on the test DNS server)."""

from __future__ import annotations

from tests.support.dkim_verify import KeyPair

DOMAIN = "news.example"
RELAY = "relay.news.example"
RELAY_IP = "93.184.215.14"
MX_IP = "93.184.215.15"

Zone = dict[str, list[tuple[str, str]]]


def good_zone(key: KeyPair, selector: str = "s1") -> Zone:
    return {
        DOMAIN: [
            ("TXT", f"v=spf1 ip4:{RELAY_IP} mx include:_spf.{DOMAIN} -all"),
            ("MX", f"10 mx.{DOMAIN}"),
            ("TXT", "google-site-verification=abc"),
        ],
        f"_spf.{DOMAIN}": [("TXT", "v=spf1 ip4:93.184.215.0/28 -all")],
        f"mx.{DOMAIN}": [("A", MX_IP)],
        RELAY: [("A", RELAY_IP)],
        f"{selector}._domainkey.{DOMAIN}": [("TXT", key.record())],
        f"_dmarc.{DOMAIN}": [("TXT", f"v=DMARC1; p=quarantine; rua=mailto:dmarc@{DOMAIN}")],
        f"_mta-sts.{DOMAIN}": [("TXT", "v=STSv1; id=2026120701")],
        f"_smtp._tls.{DOMAIN}": [("TXT", f"v=TLSRPTv1; rua=mailto:tls@{DOMAIN}")],
        "14.215.184.93.in-addr.arpa": [("PTR", RELAY)],
    }


def good_env(key: KeyPair, where: str) -> dict[str, str]:
    """The settings of a sender whose records are `good_zone`."""
    return {
        "NEWSLETTER_SENDER_ADDRESS": f"letters@{DOMAIN}",
        "NEWSLETTER_SITE_URL": f"https://{DOMAIN}",
        "NEWSLETTER_POSTAL_ADDRESS": "News Example, 5 Rue Exemple, 75001 Paris",
        "NEWSLETTER_BACKEND": "smtp",
        "NEWSLETTER_SMTP_HOST": RELAY,
        "NEWSLETTER_DKIM_SELECTOR": "s1",
        "NEWSLETTER_DKIM_ALGORITHM": "ed25519-sha256" if key.kind == "ed25519" else "rsa-sha256",
        "NEWSLETTER_DKIM_PRIVATE_KEY": key.pem,
        "NEWSLETTER_DNS_RESOLVER": where,
    }


def eleven_lookups(zone: Zone) -> Zone:
    """SPF whose includes make 11 DNS lookups."""
    chain = " ".join(f"include:s{i}._spf.{DOMAIN}" for i in range(10))
    zone[DOMAIN][0] = ("TXT", f"v=spf1 ip4:{RELAY_IP} {chain} -all")
    for i in range(10):
        zone[f"s{i}._spf.{DOMAIN}"] = [("TXT", f"v=spf1 ip4:10.0.{i}.0/24 -all")]
    zone[f"s9._spf.{DOMAIN}"] = [("TXT", f"v=spf1 include:_spf.{DOMAIN} -all")]
    return zone


def plus_all(zone: Zone) -> Zone:
    zone[DOMAIN][0] = ("TXT", "v=spf1 mx +all")
    return zone


def without_dkim(zone: Zone) -> Zone:
    del zone[f"s1._domainkey.{DOMAIN}"]
    return zone


def other_dkim_key(zone: Zone, other: KeyPair) -> Zone:
    zone[f"s1._domainkey.{DOMAIN}"] = [("TXT", other.record())]
    return zone


def dmarc_none(zone: Zone) -> Zone:
    zone[f"_dmarc.{DOMAIN}"] = [("TXT", "v=DMARC1; p=none")]
    return zone


BOUNCE_DOMAIN = "bounce-service.example"


def verp_elsewhere(zone: Zone) -> Zone:
    """The bounce address at another organisation's domain, with a good SPF and MX there."""
    zone[BOUNCE_DOMAIN] = [("TXT", f"v=spf1 ip4:{RELAY_IP} -all"), ("MX", f"10 mx.{DOMAIN}")]
    return zone


def no_bounce_mx(zone: Zone) -> Zone:
    """The bounce domain with SPF but neither MX nor an address."""
    zone[f"bounces.{DOMAIN}"] = [("TXT", f"v=spf1 ip4:{RELAY_IP} -all")]
    return zone
