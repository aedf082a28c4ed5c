"""A real DNS server on loopback (dnslib) that answers MX, A/AAAA and SRV queries.

Provider detection is tested against it through ``FALCANA_DNS_SERVERS``: no patched
resolver, the real dnspython code path.
"""

from __future__ import annotations

import threading
from typing import Any

from dnslib import AAAA, MX, QTYPE, RCODE, RR, SRV, A, DNSRecord
from dnslib.server import BaseResolver, DNSLogger, DNSServer


class _Resolver(BaseResolver):  # type: ignore[misc]
    def __init__(self, zone: dict[str, list[str]]) -> None:
        self.zone = zone  # MX
        self.addresses: dict[str, list[str]] = {}  # A and AAAA
        self.srv: dict[str, list[tuple[str, int]]] = {}
        self.queries: list[str] = []
        self.lock = threading.Lock()

    def resolve(self, request: DNSRecord, handler: Any) -> DNSRecord:
        reply = request.reply()
        name = str(request.q.qname).rstrip(".").lower()
        qtype = request.q.qtype
        with self.lock:
            self.queries.append(name)
            exchanges = self.zone.get(name)
            addresses = self.addresses.get(name)
            services = self.srv.get(name)
        if exchanges is None and addresses is None and services is None:
            reply.header.rcode = RCODE.NXDOMAIN
        elif qtype == QTYPE.MX and exchanges:
            for pref, exchange in enumerate(exchanges, start=1):
                reply.add_answer(RR(request.q.qname, QTYPE.MX, ttl=60,
                                    rdata=MX(exchange, pref * 10)))
        elif qtype in (QTYPE.A, QTYPE.AAAA) and addresses:
            for address in addresses:
                v6 = ":" in address
                if v6 == (qtype == QTYPE.AAAA):
                    reply.add_answer(RR(request.q.qname, qtype, ttl=60,
                                        rdata=AAAA(address) if v6 else A(address)))
        elif qtype == QTYPE.SRV and services:
            for priority, (target, port) in enumerate(services):
                reply.add_answer(RR(request.q.qname, QTYPE.SRV, ttl=60,
                                    rdata=SRV(priority, 0, port, target)))
        return reply


class DnsTestServer:
    """``DnsTestServer({"firma.de": ["firma-de.mail.protection.outlook.com"]})``"""

    def __init__(self, zone: dict[str, list[str]] | None = None) -> None:
        self._resolver = _Resolver({k.lower(): v for k, v in (zone or {}).items()})
        self._server = DNSServer(self._resolver, port=0, address="127.0.0.1",
                                 logger=DNSLogger(logf=lambda _s: None))
        self.port: int = self._server.server.server_address[1]

    @property
    def address(self) -> str:
        """For ``FALCANA_DNS_SERVERS``."""
        return f"127.0.0.1:{self.port}"

    @property
    def queries(self) -> list[str]:
        return list(self._resolver.queries)

    def set_mx(self, domain: str, exchanges: list[str]) -> None:
        with self._resolver.lock:
            self._resolver.zone[domain.lower()] = exchanges

    def set_address(self, name: str, addresses: list[str]) -> None:
        """A and AAAA records: ``set_address("autoconfig.firma.example", ["127.0.0.7"])``."""
        with self._resolver.lock:
            self._resolver.addresses[name.lower()] = addresses

    def set_srv(self, name: str, targets: list[tuple[str, int]]) -> None:
        """SRV records in priority order: ``set_srv("_submission._tcp.x", [("m.x", 587)])``."""
        with self._resolver.lock:
            self._resolver.srv[name.lower()] = targets

    def start(self) -> DnsTestServer:
        self._server.start_thread()
        return self

    def stop(self) -> None:
        self._server.stop()
