"""What provider plugins declare: detection results, presets, sending limits; MX look-up.

The MX look-up lives in the core so every provider plugin shares one resolver, one cache
and one time-out, and DNS is asked only when a plugin needs it.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from falcana_core.i18n import Text

log = logging.getLogger(__name__)

MxLookup = Callable[[str], Sequence[str]]


class FieldPreset(Protocol):
    """Values a provider prescribes for a section's fields, offered as one button.

    The section that owns the fields defines the concrete class (the SMTP plugin's preset
    has host, port and connection type); the core only fills ``values`` into the form.
    """

    @property
    def label(self) -> Text: ...

    @property
    def values(self) -> Mapping[str, object]: ...


@dataclasses.dataclass(frozen=True)
class Detection:
    """A recognised provider and why: shown in the section ("MX-Eintrag zeigt auf ...")."""

    provider: str  # stable id, e.g. "m365", "outlook_com", "gmail"
    name: Text
    reason: Text
    confidence: int = 50  # host 90, address domain 80, MX 60 by convention
    presets: Sequence[FieldPreset] = ()
    via: str = "host"  # "host", "domain" or "mx": host-specific rules apply only to "host"
    #: the provider files mail submitted over SMTP in the Sent folder itself (Microsoft
    #: 365, Gmail): nobody needs to file a copy
    files_sent: bool = False


@dataclasses.dataclass(frozen=True)
class Limits:
    """Sending limits per mailbox; None means "no declared limit"."""

    max_connections: int | None = None
    messages_per_minute: int | None = None
    messages_per_day: int | None = None
    recipients_per_message: int | None = None
    recipients_per_day: int | None = None


def make_resolver(servers: Sequence[str], timeout: float = 2.0) -> Any:
    """A dnspython resolver asking ``servers`` ("10.0.0.53", "127.0.0.1:5353"), or the
    system's when there are none."""
    import dns.resolver

    if servers:
        resolver = dns.resolver.Resolver(configure=False)
        nameservers = []
        ports = set()
        for server in servers:
            host, _, port = server.rpartition(":") if server.count(":") == 1 else (
                server, "", "")
            nameservers.append(host or server)
            if port:
                ports.add(int(port))
        resolver.nameservers = nameservers
        if ports:
            resolver.port = ports.pop()
    else:
        resolver = dns.resolver.Resolver()
    resolver.lifetime = timeout
    resolver.timeout = timeout
    return resolver


class MxResolver:
    """MX look-ups through ``FALCANA_DNS_SERVERS`` (or the system resolver), cached.

    Silent on failure: detection must never break a page because DNS is down.
    """

    def __init__(self, servers: Sequence[str] = (), timeout: float = 2.0,
                 ttl: float = 3600.0) -> None:
        self.servers = list(servers)
        self.timeout = timeout
        self.ttl = ttl
        self._cache: dict[str, tuple[float, tuple[str, ...]]] = {}
        self._srv_cache: dict[str, tuple[float, tuple[tuple[str, int], ...]]] = {}

    @classmethod
    def from_env(cls) -> MxResolver:
        raw = os.environ.get("FALCANA_DNS_SERVERS", "")
        return cls([s.strip() for s in raw.split(",") if s.strip()])

    @functools.cached_property
    def _resolver(self):  # type: ignore[no-untyped-def]
        return make_resolver(self.servers, self.timeout)

    def srv(self, name: str) -> tuple[tuple[str, int], ...]:
        """SRV targets and ports of ``name``, by priority then weight (RFC 2782); empty
        when there are none or DNS fails."""
        name = name.strip().rstrip(".").lower()
        now = time.monotonic()
        hit = self._srv_cache.get(name)
        if hit and hit[0] > now:
            return hit[1]
        found: tuple[tuple[str, int], ...] = ()
        try:
            answer = self._resolver.resolve(name, "SRV")
            records = sorted(answer, key=lambda r: (r.priority, -r.weight))
            found = tuple((str(r.target).rstrip(".").lower(), int(r.port)) for r in records)
        except Exception as exc:  # NXDOMAIN, no answer, time-out: nothing found
            log.debug("SRV look-up for %s failed: %s", name, exc.__class__.__name__)
        self._srv_cache[name] = (now + self.ttl, found)
        return found

    def __call__(self, domain: str) -> tuple[str, ...]:
        domain = domain.strip().rstrip(".").lower()
        if not domain:
            return ()
        now = time.monotonic()
        hit = self._cache.get(domain)
        if hit and hit[0] > now:
            return hit[1]
        hosts: tuple[str, ...] = ()
        try:
            answer = self._resolver.resolve(domain, "MX")
            records = sorted(answer, key=lambda r: r.preference)
            hosts = tuple(str(r.exchange).rstrip(".").lower() for r in records)
        except Exception as exc:  # DNS down, NXDOMAIN, time-out: detection stays silent
            log.debug("MX look-up for %s failed: %s", domain, exc.__class__.__name__)
        self._cache[domain] = (now + self.ttl, hosts)
        return hosts
