"""Recognising a mailbox's provider: what provider plugins answer (``Detection`` with its
presets, hook ``detect_provider``), and the MX look-up they share.

The look-up is one resolver per host, so every provider plugin shares one cache and one
time-out, and DNS is asked only when a plugin needs it.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Protocol

from falcana_core.api import Text
from falcana_core.api.net import make_resolver

if TYPE_CHECKING:
    from falcana_core.api import Host

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
class Preset:
    """Server settings a provider prescribes, offered as one button ("Use: ...")."""

    label: Text
    host: str
    port: int
    security: str  # "normal" | "tls" | "ssl"

    @property
    def values(self) -> Mapping[str, object]:
        """What the button fills into this plugin's form, by field id."""
        return {"host": self.host, "port": self.port, "security": self.security}


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
        #: domains whose MX look-up got no answer at all (time-out, no server): not "no
        #: MX record", but "DNS does not work here", which an error message should say
        self.unanswered: set[str] = set()
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
        import dns.resolver

        self.unanswered.discard(domain)
        try:
            answer = self._resolver.resolve(domain, "MX")
            records = sorted(answer, key=lambda r: r.preference)
            hosts = tuple(str(r.exchange).rstrip(".").lower() for r in records)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            pass  # an answer: the domain has no MX record
        except Exception as exc:  # DNS down, time-out: detection stays silent
            log.debug("MX look-up for %s failed: %s", domain, exc.__class__.__name__)
            self.unanswered.add(domain)
        self._cache[domain] = (now + self.ttl, hosts)
        return hosts


def mx_resolver(host: Host) -> MxResolver:
    """The host's one MX resolver (``FALCANA_DNS_SERVERS``, or the system's)."""
    return host.service("smtp_settings.mx", lambda h: MxResolver(h.config.dns_servers))


def _no_mx(_domain: str) -> tuple[str, ...]:
    return ()


def detect_provider(host: Host, address: str, server: str, *, dns: bool = True
                    ) -> Detection | None:
    """The provider of a mailbox, from its address and server; with ``dns`` also from its
    domain's MX records (settings and tests do that; sending does not: a resolver that is
    down must not hold mail back). The detection with the highest confidence wins, ties
    by plugin name."""
    found: list[tuple[str, Detection]] = host.hook.call(
        "detect_provider", address=address.strip(), host=server.strip().lower(),
        mx=mx_resolver(host) if dns else _no_mx)
    if not found:
        return None
    return sorted(found, key=lambda pd: (-pd[1].confidence, pd[0]))[0][1]


def known_server(host: Host, server: str) -> Text | None:
    """Who knows ``server`` as a mail server: the provider whose host it is, or a plugin
    that knows it (hook ``known_server``); None for a name nobody knows."""
    found = detect_provider(host, "", server, dns=False)
    if found is not None and found.via == "host":
        return found.name
    who: Text | None = host.hook.call("known_server", server=server.strip().lower())
    return who
