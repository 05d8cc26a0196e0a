"""DNS answers for the checks, through dnspython: the system's resolver, or the one named by
`dns_resolver` (`ADDRESS` or `ADDRESS:PORT`). A time-out or a SERVFAIL is `trouble`, never an
empty answer: a check that could not read a record says so instead of passing or failing.
Each question is asked once per run."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from newsletter.errors import ConfigError


@dataclass(frozen=True)
class Answer:
    """What the resolver said: the records (as text), or that the name does not exist, or
    `trouble` (time-out, SERVFAIL, refused): could not check."""

    records: tuple[str, ...] = ()
    nxdomain: bool = False
    trouble: str = ""

    @property
    def void(self) -> bool:
        """No record and no trouble (RFC 7208's void lookup)."""
        return not self.records and not self.trouble


def resolver_address(value: str, where: str = "dns_resolver") -> tuple[str, int]:
    """`ADDRESS` or `ADDRESS:PORT` (`[v6]:PORT`) as (address, port)."""
    host, port = value.strip(), 53
    if host.startswith("["):
        host, _, rest = host[1:].partition("]")
        port_text = rest.removeprefix(":") or "53"
    elif host.count(":") == 1:
        host, port_text = host.split(":")
    else:
        port_text = "53"
    try:
        ipaddress.ip_address(host)
        port = int(port_text)
        if not 0 < port < 65536:
            raise ValueError
    except ValueError:
        raise ConfigError(
            f"{where}: dns_resolver must be an IP address, optionally with a port "
            f"(127.0.0.1:5353), got {value!r}"
        ) from None
    return host, port


@dataclass
class Lookup:
    resolver_setting: str = ""
    where: str = "dns_resolver"
    timeout: float = 2.0
    _cache: dict[tuple[str, str], Answer] = field(default_factory=dict)
    _resolver: object = None

    def __post_init__(self) -> None:
        import dns.resolver

        if self.resolver_setting:
            address, port = resolver_address(self.resolver_setting, self.where)
            resolver = dns.resolver.Resolver(configure=False)
            resolver.nameservers = [address]
            resolver.port = port
        else:
            try:
                resolver = dns.resolver.Resolver()
            except dns.resolver.NoResolverConfiguration:
                raise ConfigError(
                    "no system DNS resolver is configured: set dns_resolver"
                ) from None
        resolver.lifetime = self.timeout
        resolver.timeout = self.timeout
        resolver.use_edns(0, 0, 1232)
        self._resolver = resolver

    def __call__(self, name: str, kind: str) -> Answer:
        key = (name.lower().rstrip("."), kind)
        if key not in self._cache:
            self._cache[key] = self._ask(*key)
        return self._cache[key]

    def _ask(self, name: str, kind: str) -> Answer:
        import dns.exception
        import dns.resolver

        try:
            answer = self._resolver.resolve(name, kind, raise_on_no_answer=False)  # type: ignore[attr-defined]
        except dns.resolver.NXDOMAIN:
            return Answer(nxdomain=True)
        except dns.resolver.NoNameservers:
            return Answer(trouble=f"no server answered for {name} {kind} (SERVFAIL)")
        except dns.exception.Timeout:
            return Answer(trouble=f"time-out asking for {name} {kind}")
        except dns.exception.DNSException as exc:
            return Answer(trouble=f"{name} {kind}: {type(exc).__name__}")
        if answer.rrset is None:
            return Answer()
        if kind == "TXT":
            texts = (b"".join(r.strings).decode("utf-8", "replace") for r in answer.rrset)
            return Answer(tuple(texts))
        return Answer(tuple(r.to_text() for r in answer.rrset))

    def txt_starting(self, name: str, prefix: str) -> tuple[list[str], Answer]:
        """The TXT records at `name` that begin with `prefix` (case-insensitive)."""
        answer = self(name, "TXT")
        found = [r for r in answer.records if r.lower().startswith(prefix.lower())]
        return found, answer

    def addresses(self, name: str) -> tuple[list[str], str]:
        """A and AAAA of `name` (an address literal stands for itself), and any trouble."""
        try:
            return [str(ipaddress.ip_address(name))], ""
        except ValueError:
            pass
        found: list[str] = []
        trouble = ""
        for kind in ("A", "AAAA"):
            answer = self(name, kind)
            found += answer.records
            trouble = trouble or answer.trouble
        return found, trouble


def is_public(address: str) -> bool:
    return ipaddress.ip_address(address).is_global
