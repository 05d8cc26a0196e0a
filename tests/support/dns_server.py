"""An authoritative DNS server for tests (dnslib, in the test process, UDP and TCP on one port of
a loopback address), serving zones the tests write: a dict of name -> [(type, value)], plus
names under which every answer is SERVFAIL. `doctor` reads it through `dns_resolver`, dkimpy
through dnspython, OpenDKIM through libunbound (tests/support/opendkim.py).

The `dns` fixture starts one on a free port of 127.0.0.1 and stops it after the test."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator, Mapping, Sequence

import pytest
from dnslib import AAAA, CNAME, MX, PTR, QTYPE, RCODE, RR, TXT, A, DNSLabel, DNSRecord
from dnslib.server import BaseResolver, DNSLogger, DNSServer

Records = Mapping[str, Sequence[tuple[str, str]]]  # name -> [(type, value)]


def _rdata(kind: str, value: str) -> object:
    if kind == "TXT":  # character-strings of at most 255 bytes each
        data = value.encode()
        return TXT([data[i : i + 255] for i in range(0, len(data), 255)] or [b""])
    if kind == "MX":
        preference, _, host = value.partition(" ")
        return MX(host, int(preference))
    return {"A": A, "AAAA": AAAA, "CNAME": CNAME, "PTR": PTR}[kind](value)


class ZoneResolver(BaseResolver):  # type: ignore[misc]
    def __init__(self) -> None:
        self.records: dict[str, list[tuple[str, str]]] = {}
        self.servfail: tuple[str, ...] = ()
        self.queries: list[tuple[str, str]] = []
        self.lock = threading.Lock()

    def resolve(self, request: DNSRecord, handler: object) -> DNSRecord:
        reply = request.reply()  # aa=1, ra=1: an authoritative answer
        name = str(request.q.qname).lower().rstrip(".")
        kind = QTYPE[request.q.qtype]
        with self.lock:
            self.queries.append((name, kind))
            records, servfail = self.records, self.servfail
        if any(name == s or name.endswith("." + s) for s in servfail):
            reply.header.rcode = RCODE.SERVFAIL
            return reply
        for _ in range(8):  # follow CNAMEs inside the zone
            found = records.get(name)
            if found is None:
                if not reply.rr:
                    reply.header.rcode = RCODE.NXDOMAIN
                return reply
            alias = [v for k, v in found if k == "CNAME"]
            if alias and kind != "CNAME":
                reply.add_answer(RR(DNSLabel(name), QTYPE.CNAME, rdata=CNAME(alias[0]), ttl=60))
                name = alias[0].lower().rstrip(".")
                continue
            for k, v in found:
                if k == kind:
                    reply.add_answer(
                        RR(DNSLabel(name), getattr(QTYPE, k), rdata=_rdata(k, v), ttl=60)
                    )
            return reply
        return reply


class DnsServer:
    """One server: `serve(records, servfail=...)` swaps the zone; `address`, `port`."""

    def __init__(self, address: str = "127.0.0.1", port: int = 0):
        self.resolver = ZoneResolver()
        quiet = DNSLogger(log="-request,-reply,-truncated,-error,-recv,-send,-data", prefix=False)
        for _ in range(20):  # a UDP port that is free for TCP as well
            chosen = port or _free_udp_port(address)
            try:
                self.udp = DNSServer(self.resolver, address, chosen, logger=quiet)
                self.tcp = DNSServer(self.resolver, address, chosen, tcp=True, logger=quiet)
                break
            except OSError:
                if port:
                    raise
        else:
            raise RuntimeError("no free port for the test DNS server")
        self.address, self.port = address, chosen
        self.udp.start_thread()
        self.tcp.start_thread()

    @property
    def where(self) -> str:
        """The `dns_resolver` setting that points at this server."""
        return f"{self.address}:{self.port}"

    def serve(self, records: Records, servfail: Sequence[str] = ()) -> None:
        with self.resolver.lock:
            self.resolver.records = {k.lower().rstrip("."): list(v) for k, v in records.items()}
            self.resolver.servfail = tuple(s.lower().rstrip(".") for s in servfail)

    def stop(self) -> None:
        for server in (self.udp, self.tcp):
            server.server.shutdown()
            server.server.server_close()


def _free_udp_port(address: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind((address, 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def dns() -> Iterator[DnsServer]:
    server = DnsServer()
    try:
        yield server
    finally:
        server.stop()
