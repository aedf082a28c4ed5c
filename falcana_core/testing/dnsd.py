"""A real DNS server on loopback (dnslib) that answers MX queries from a dict.

Provider detection is tested against it through ``FALCANA_DNS_SERVERS``: no patched
resolver, the real dnspython code path.
"""

from __future__ import annotations

import threading
from typing import Any

from dnslib import MX, QTYPE, RCODE, RR, DNSRecord
from dnslib.server import BaseResolver, DNSLogger, DNSServer


class _Resolver(BaseResolver):  # type: ignore[misc]
    def __init__(self, zone: dict[str, list[str]]) -> None:
        self.zone = zone
        self.queries: list[str] = []
        self.lock = threading.Lock()

    def resolve(self, request: DNSRecord, handler: Any) -> DNSRecord:
        reply = request.reply()
        name = str(request.q.qname).rstrip(".").lower()
        with self.lock:
            self.queries.append(name)
            exchanges = self.zone.get(name)
        if exchanges is None:
            reply.header.rcode = RCODE.NXDOMAIN
        elif request.q.qtype == QTYPE.MX:
            for pref, exchange in enumerate(exchanges, start=1):
                reply.add_answer(RR(request.q.qname, QTYPE.MX, ttl=60,
                                    rdata=MX(exchange, pref * 10)))
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

    def start(self) -> DnsTestServer:
        self._server.start_thread()
        return self

    def stop(self) -> None:
        self._server.stop()
