"""Where falcana may connect to: the destination policy for every outgoing connection.

A mailbox's server is typed by people who may not be admins, so a test mail is a way to
probe the network falcana runs in (databases on loopback, the cloud's metadata service,
the office LAN). The policy is checked on the *resolved* addresses, and the caller
connects to exactly those addresses, so a DNS answer that changes between check and
connect (rebinding) gains nothing.

Refused unless the deployment allows them (``FALCANA_ALLOW_NETWORKS``: networks in CIDR
form and host names, comma-separated; ``loopback`` and ``private`` as shorthands):
loopback, private (RFC 1918, ULA), link-local, shared address space (CGNAT), multicast,
reserved and unspecified addresses, in every spelling (``0x7f000001``, ``[::1]``,
``::ffff:127.0.0.1``: all are judged by the address they resolve to).

Non-admins may use the ports in ``FALCANA_USER_PORTS`` (default 25, 465, 587, 2525;
ranges such as ``1024-65535`` allowed).
"""

from __future__ import annotations

import dataclasses
import functools
import ipaddress
import socket
import ssl
import threading
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

DEFAULT_USER_PORTS: tuple[tuple[int, int], ...] = ((25, 25), (465, 465), (587, 587),
                                                   (2525, 2525))
SHORTHANDS = {
    "loopback": ("127.0.0.0/8", "::1/128"),
    "private": ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"),
}
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class DestinationRefused(OSError):
    """The destination is not allowed; the message names the host, never a secret and
    never the addresses it resolved to (``addresses`` keeps them for the operator)."""

    def __init__(self, message: str, *, reason: str,
                 addresses: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.reason = reason  # "address" or "port"
        self.addresses = addresses


def _unmapped(address: IPAddress) -> IPAddress:
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address.sixtofour is not None:
            return address.sixtofour
    return address


def is_public(address: IPAddress) -> bool:
    """A unicast address on the public internet (IPv4-mapped forms judged as IPv4)."""
    address = _unmapped(address)
    return address.is_global and not (address.is_multicast or address.is_unspecified
                                      or address.is_reserved or address.is_loopback)


@dataclasses.dataclass(frozen=True)
class NetPolicy:
    allow_networks: tuple[Network, ...] = ()
    allow_hosts: frozenset[str] = frozenset()
    user_ports: tuple[tuple[int, int], ...] = DEFAULT_USER_PORTS  # ranges, both ends in
    #: resolvers for host names (FALCANA_DNS_SERVERS); empty: the system's
    dns_servers: tuple[str, ...] = ()

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> NetPolicy:
        policy = cls.parse(env.get("FALCANA_ALLOW_NETWORKS", ""),
                           env.get("FALCANA_USER_PORTS", ""))
        servers = tuple(s.strip() for s in env.get("FALCANA_DNS_SERVERS", "").split(",")
                        if s.strip())
        return dataclasses.replace(policy, dns_servers=servers)

    @classmethod
    def parse(cls, networks: str, ports: str = "") -> NetPolicy:
        nets: list[Network] = []
        hosts: set[str] = set()
        for item in (x.strip() for x in networks.replace(" ", ",").split(",")):
            if not item:
                continue
            for spelled in SHORTHANDS.get(item.lower(), (item,)):
                try:
                    nets.append(ipaddress.ip_network(spelled, strict=False))
                except ValueError:
                    if not all(part.replace("-", "").isalnum()
                               for part in spelled.rstrip(".").split(".")):
                        raise ValueError(
                            f"FALCANA_ALLOW_NETWORKS: {spelled!r} is neither a network "
                            "nor a host name") from None
                    hosts.add(spelled.lower().rstrip("."))
        return cls(tuple(nets), frozenset(hosts), _port_ranges(ports))

    def describe(self) -> str:
        return ",".join([*(str(n) for n in self.allow_networks), *sorted(self.allow_hosts)])

    def describe_ports(self) -> str:
        return ",".join(str(lo) if lo == hi else f"{lo}-{hi}" for lo, hi in self.user_ports)

    @functools.cached_property
    def _resolver(self) -> Any:
        return make_resolver(self.dns_servers, timeout=5.0)

    def _lookup(self, host: str, port: int, family: int) -> list[tuple[Any, ...]]:
        """Addresses of ``host``: through FALCANA_DNS_SERVERS when set (the same resolvers
        as every other look-up), else the system's resolver."""
        if not self.dns_servers or _is_ip(host):
            return socket.getaddrinfo(host, port, family, socket.SOCK_STREAM)
        import dns.exception
        import dns.resolver

        infos: list[tuple[Any, ...]] = []
        for rdtype, fam in (("AAAA", socket.AF_INET6), ("A", socket.AF_INET)):
            if family and family != fam:
                continue
            try:
                answer = self._resolver.resolve(host, rdtype)
            except (dns.resolver.NoAnswer, dns.resolver.NXDOMAIN):
                continue
            except dns.exception.DNSException as exc:
                raise socket.gaierror(socket.EAI_AGAIN, str(exc)) from None
            for record in answer:
                address = str(record)
                sockaddr = (address, port, 0, 0) if fam == socket.AF_INET6 else (address, port)
                infos.append((fam, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", sockaddr))
        if not infos:  # not in DNS: the system may still know it (/etc/hosts)
            return socket.getaddrinfo(host, port, family, socket.SOCK_STREAM)
        return infos

    # -- checks ----------------------------------------------------------------------------

    def allows_address(self, host: str, address: IPAddress) -> bool:
        if host.lower().rstrip(".") in self.allow_hosts:
            return True
        plain = _unmapped(address)
        if any(plain in net or address in net for net in self.allow_networks):
            return True
        return is_public(address)

    def allows_port(self, port: int, *, admin: bool) -> bool:
        return admin or any(lo <= port <= hi for lo, hi in self.user_ports)

    def check_port(self, port: int, *, admin: bool) -> None:
        if not self.allows_port(port, admin=admin):
            raise DestinationRefused(f"port {port} is not open to users (allowed: "
                                     f"{self.describe_ports()})", reason="port")

    def resolve(self, host: str, port: int, *, admin: bool = True,
                family: int = 0) -> list[tuple[Any, ...]]:
        """``getaddrinfo`` results that pass the policy; connect only to these.

        Raises ``DestinationRefused`` when no address may be used (a name that resolves
        to public *and* internal addresses keeps only the public ones), and
        ``socket.gaierror`` when the name does not resolve.
        """
        self.check_port(port, admin=admin)
        infos = self._lookup(host.strip("[]"), port, family)
        allowed = [i for i in infos if self.allows_address(host, _ip(str(i[4][0])))]
        if not allowed:
            # the addresses stay out of the text: it reaches step logs that non-admins
            # read, and they are to learn that a destination was refused, not what is there
            raise DestinationRefused(
                f"{host} is not an allowed destination (FALCANA_ALLOW_NETWORKS)",
                reason="address", addresses=tuple(sorted({str(i[4][0]) for i in infos})))
        return allowed


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return False
    return True


def _port_ranges(text: str) -> tuple[tuple[int, int], ...]:
    """``"25,465,587,2525"`` or ranges such as ``"1024-65535"``; empty: the default."""
    if not text.strip():
        return DEFAULT_USER_PORTS
    ranges = []
    for item in (x.strip() for x in text.replace(" ", ",").split(",")):
        if not item:
            continue
        lo, _, hi = item.partition("-")
        try:
            first, last = int(lo), int(hi or lo)
        except ValueError:
            raise ValueError(f"FALCANA_USER_PORTS: {item!r} is not a port or a range of "
                             "ports") from None
        if not 1 <= first <= last <= 65535:
            raise ValueError(f"FALCANA_USER_PORTS: {item!r} is outside 1-65535")
        ranges.append((first, last))
    return tuple(ranges)


def _ip(text: str) -> IPAddress:
    return ipaddress.ip_address(text.split("%", 1)[0])  # an IPv6 scope id is not ours


def tls_context(ca_bundle: Path | None = None) -> ssl.SSLContext:
    """Verified TLS for an outgoing connection: the system store plus ``FALCANA_CA_BUNDLE``
    (a corporate CA), host names checked, TLS 1.2 at least.

    Shared (do not change it): loading the system store costs about 25 ms of processor,
    once per connection before; now once per bundle, and again when the file changes."""
    key = None
    if ca_bundle is not None:
        stat = ca_bundle.stat()
        key = (str(ca_bundle), stat.st_mtime_ns, stat.st_size)
    with _CONTEXTS_LOCK:
        ctx = _CONTEXTS.get(key)
        if ctx is None:
            ctx = ssl.create_default_context()
            if ca_bundle is not None:
                ctx.load_verify_locations(cafile=str(ca_bundle))
            ctx.minimum_version = ssl.TLSVersion.TLSv1_2
            for old in [k for k in _CONTEXTS if k and key and k[0] == key[0]]:
                del _CONTEXTS[old]  # the file changed: its former context is done with
            _CONTEXTS[key] = ctx
        return ctx


_CONTEXTS: dict[tuple[str, int, int] | None, ssl.SSLContext] = {}
_CONTEXTS_LOCK = threading.Lock()


def connect(infos: Iterable[Sequence[Any]], timeout: float) -> socket.socket:
    """Connect to the first address that answers (addresses from ``NetPolicy.resolve``)."""
    error: OSError | None = None
    for family, type_, proto, _name, address in infos:
        sock = socket.socket(family, type_, proto)
        sock.settimeout(timeout)
        try:
            sock.connect(address)
            return sock
        except OSError as exc:
            sock.close()
            error = exc
    raise error or OSError("no address to connect to")


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
