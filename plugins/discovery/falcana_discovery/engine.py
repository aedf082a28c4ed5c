"""Finding a mailbox's SMTP settings from its address, source after source.

1. provider plugins (their presets, by address domain: no network);
2. the bundled ISP database (no network);
3. the domain's own autoconfig file (HTTPS), 4. DNS SRV (RFC 6186 / 8314), 5. the MX
   host's registrable domain in the plugins and the database: these three at once;
6. probing smtp.<domain>, mail.<domain> and the MX host on 465, then 587, when nothing
   else answered.

The first source that answers makes the proposal; what the others found is listed beside
it. One time budget for everything (``FALCANA_DISCOVERY_BUDGET``, 10 s by default), every
connection under the deployment's destination policy, results cached per domain.
"""

from __future__ import annotations

import concurrent.futures
import functools
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from falcana_smtp_settings.api import Discovery, Found, Tried, detect_provider, mx_resolver

from falcana_core.api import split_address
from falcana_discovery import ispdb
from falcana_discovery.clientconfig import ConfigError, Provider, Server, parse
from falcana_discovery.fetch import FetchError, get
from falcana_discovery.i18n import _
from falcana_discovery.probe import offers_auth, speaks_imap

if TYPE_CHECKING:
    from falcana_core.api import Host

SECTION = "smtp"
COPY_SECTION = "sent_copy"  # the IMAP server for the copy in Sent
CACHE_SECONDS = 3600.0
DEFAULT_BUDGET = 10.0
PROBE_PORTS: tuple[tuple[int, str], ...] = ((465, "ssl"), (587, "tls"))
SECURITY_LABEL = {"ssl": "SSL", "tls": "TLS", "normal": "normal"}


def _found(server: Server, address: str, source: str, source_label: Any,
           warning: Any = None) -> Found:
    values = {"host": server.host, "port": server.port, "security": server.security,
              "username": server.username_for(address)}
    label = f"{server.host}, {server.port}, {SECURITY_LABEL[server.security]}"
    if server.needs_oauth:
        warning = _("This server accepts OAuth2 sign-in only.")
    return Found(label, values, source, source_label, warning, SECTION)


def _from_provider(provider: Provider, address: str, source: str, label: Any) -> list[Found]:
    """The provider's SMTP servers, and its IMAP server for the copy in Sent."""
    imap = _imap(provider, address, label, source)
    return [*(_found(s, address, source, label) for s in provider.smtp),
            *([imap] if imap is not None else [])]


def _imap(provider: Provider, address: str, label: Any, source: str) -> Found | None:
    """The provider's IMAP server, for the copy in Sent (implicit TLS preferred)."""
    servers = sorted(provider.imap, key=lambda s: {"ssl": 0, "tls": 1}.get(s.security, 2))
    if not servers or servers[0].security == "normal":
        return None
    server = servers[0]
    smtp_user = provider.smtp[0].username if provider.smtp else "%EMAILADDRESS%"
    values = {"host": server.host, "port": server.port, "security": server.security,
              # empty: the same username as for sending
              "username": "" if server.username == smtp_user else server.username_for(address)}
    return Found(f"{server.host}, {server.port}, {SECURITY_LABEL[server.security]}", values,
                 source, label, None, COPY_SECTION)


def discoverer(host: Host) -> Discoverer:
    """The host's discoverer (one cache per host)."""
    return host.service("discovery", Discoverer)


class Discoverer:
    """One per host (``Host.service``): the cache lives here."""

    #: the ports a real deployment asks; tests that drive the button or the command line
    #: point these at their servers on free ports
    https_port: int = 443
    probe_ports: Sequence[tuple[int, str]] = PROBE_PORTS
    imap_port: int = 993

    def __init__(self, host: Host) -> None:
        self.host = host
        self._cache: dict[str, tuple[float, Discovery]] = {}

    def discover(self, address: str, *, budget: float | None = None,
                 probe_ports: Sequence[tuple[int, str]] | None = None,
                 https_port: int | None = None, imap_port: int | None = None,
                 use_cache: bool = True) -> Discovery:
        """Ports not given are the class's (``Discoverer.https_port`` and the like)."""
        probe_ports = self.probe_ports if probe_ports is None else probe_ports
        https_port = https_port or self.https_port
        imap_port = imap_port or self.imap_port
        _local, domain = split_address(address.strip())
        domain = domain.lower().rstrip(".")
        key = f"{domain}|{https_port}|{','.join(f'{p}{s}' for p, s in probe_ports)}"
        hit = self._cache.get(key)
        if use_cache and hit and hit[0] > time.monotonic():
            return _for_address(hit[1], address)
        result = self._discover(address, domain, budget or _budget(), probe_ports, https_port,
                                imap_port)
        self._cache[key] = (time.monotonic() + CACHE_SECONDS, result)
        return result

    # -- the sources ---------------------------------------------------------------------

    def _discover(self, address: str, domain: str, budget: float,
                  probe_ports: Sequence[tuple[int, str]], https_port: int,
                  imap_port: int = 993) -> Discovery:
        deadline = time.monotonic() + budget
        result = Discovery(address, [], [])
        if not domain:
            return result
        # 1 and 2: no network at all
        self._run(result, "plugin", lambda: self._plugins(address, offline=True))
        if not result.found:
            self._run(result, "ispdb", lambda: self._ispdb(address, domain))
        if result.found:
            return result
        # 3, 4, 5 at once
        network: list[tuple[str, Callable[[], list[Found]]]] = [
            ("autoconfig", lambda: self._reachable(
                self._autoconfig(address, domain, deadline, https_port))),
            ("srv", lambda: self._reachable(self._srv(address, domain))),
            ("mx", lambda: self._mx(address, domain)),
        ]
        self._concurrently(result, network, deadline)
        if not result.found and time.monotonic() < deadline:
            self._run(result, "probe",
                      lambda: self._probe(address, domain, deadline, probe_ports, imap_port))
        return result

    def _run(self, result: Discovery, source: str, fn: Callable[[], list[Found]]) -> None:
        started = time.perf_counter()
        outcome, detail, found = _attempt(fn)
        result.tried.append(Tried(source, outcome, detail,
                                  (time.perf_counter() - started) * 1000))
        _add(result, found)

    def _concurrently(self, result: Discovery,
                      sources: list[tuple[str, Callable[[], list[Found]]]],
                      deadline: float) -> None:
        started = time.perf_counter()
        pool = concurrent.futures.ThreadPoolExecutor(len(sources),
                                                     thread_name_prefix="discovery")
        futures = {name: pool.submit(_attempt, fn) for name, fn in sources}
        concurrent.futures.wait(futures.values(), timeout=max(0.0, deadline - time.monotonic()))
        pool.shutdown(wait=False, cancel_futures=True)
        for name, _fn in sources:  # in the order of preference, not of arrival
            future = futures[name]
            if future.done():
                outcome, detail, found = future.result()
            else:
                outcome, detail, found = "failed", _("the time budget ran out"), []
            result.tried.append(Tried(name, outcome, detail,
                                      (time.perf_counter() - started) * 1000))
            _add(result, found)

    def _plugins(self, address: str, *, offline: bool) -> list[Found]:
        detection = detect_provider(self.host, address, "", dns=not offline)
        if detection is None:
            return []
        label = _("provider plugin ({name})", name=detection.name) if detection.via != "mx" \
            else _("MX: {name}", name=detection.name)
        found = []
        for preset in detection.presets:
            values = dict(preset.values)
            values.setdefault("username", address)
            found.append(Found(str(preset.label), values,
                               "plugin" if detection.via != "mx" else "mx", label,
                               None, SECTION))
        return found

    def _ispdb(self, address: str, domain: str) -> list[Found]:
        found = ispdb.lookup(domain)
        if found is None:
            return []
        provider = found.for_address(address)
        label = _("Thunderbird ISP database ({name})", name=provider.name)
        return _from_provider(provider, address, "ispdb", label)

    def _reachable(self, found: list[Found]) -> list[Found]:
        """What a domain says about itself may point anywhere: a candidate whose server the
        destination policy refuses is dropped (and said so), never proposed."""
        policy = self.host.config.net_policy
        kept, refused = [], []
        for item in found:
            try:
                policy.resolve(str(item.values["host"]), int(item.values["port"]))
            except OSError as exc:
                refused.append(_("{host}: {reason}", host=item.values["host"],
                                 reason=_reason(exc)))
                continue
            kept.append(item)
        if refused and not kept:
            raise _Nothing(_("refused: {servers}", servers=_joined(refused)))
        return kept

    def _autoconfig(self, address: str, domain: str, deadline: float,
                    https_port: int = 443) -> list[Found]:
        import urllib.parse

        query = urllib.parse.urlencode({"emailaddress": address})
        port = "" if https_port == 443 else f":{https_port}"
        errors = []
        for url in (f"https://autoconfig.{domain}{port}/mail/config-v1.1.xml?{query}",
                    f"https://{domain}{port}/.well-known/autoconfig/mail/config-v1.1.xml"):
            try:
                body = get(url, policy=self.host.config.net_policy, deadline=deadline,
                           ca_bundle=self.host.config.ca_bundle)
                provider = parse(body).for_address(address)
            except (OSError, FetchError, ConfigError) as exc:
                errors.append(_("{host}: {reason}", host=urllib.parse.urlsplit(url).hostname,
                                reason=_reason(exc)))
                continue
            if provider.smtp:
                host_name = urllib.parse.urlsplit(url).hostname
                return _from_provider(provider, address, "autoconfig",
                                      _("autoconfig of {domain}", domain=host_name))
        raise _Nothing(_joined(errors))

    def _srv(self, address: str, domain: str) -> list[Found]:
        found = []
        for name, security in ((f"_submissions._tcp.{domain}", "ssl"),
                               (f"_submission._tcp.{domain}", "tls")):
            for target, port in mx_resolver(self.host).srv(name):
                if target in ("", "."):
                    continue  # "service not available" (RFC 2782)
                server = Server("smtp", target, port, security, "%EMAILADDRESS%")
                found.append(_found(server, address, "srv",
                                    _("DNS SRV record of {domain}", domain=domain)))
        for name, security in ((f"_imaps._tcp.{domain}", "ssl"), (f"_imap._tcp.{domain}", "tls")):
            for target, port in mx_resolver(self.host).srv(name)[:1]:
                if target not in ("", "."):
                    found.append(Found(f"{target}, {port}, {SECURITY_LABEL[security]}", {
                        "host": target, "port": port, "security": security, "username": ""},
                        "srv", _("DNS SRV record of {domain}", domain=domain), None,
                        COPY_SECTION))
                    break
        return found

    def _mx(self, address: str, domain: str) -> list[Found]:
        hosts = mx_resolver(self.host)(domain)
        if not hosts:
            raise _Nothing(_("no MX record for {domain}", domain=domain))
        by_plugin = self._plugins(address, offline=False)
        if by_plugin:
            return by_plugin
        for mx_host in hosts:
            for candidate in _parents(mx_host):
                known = ispdb.lookup(candidate)
                if known is not None:
                    provider = known.for_address(address)
                    return _from_provider(provider, address, "mx", _(
                        "MX {mx}: {name} (Thunderbird ISP database)", mx=mx_host,
                        name=provider.name))
        raise _Nothing(_("MX {mx}: no known provider", mx=hosts[0]))

    def _probe(self, address: str, domain: str, deadline: float,
               ports: Sequence[tuple[int, str]], imap_port: int = 993) -> list[Found]:
        names = [f"smtp.{domain}", f"mail.{domain}", *mx_resolver(self.host)(domain)[:1]]
        jobs = [(name, port, security) for port, security in ports for name in names]
        policy, ca = self.host.config.net_policy, self.host.config.ca_bundle
        with concurrent.futures.ThreadPoolExecutor(len(jobs) or 1,
                                                   thread_name_prefix="probe") as pool:
            answers = list(pool.map(lambda j: offers_auth(j[0], j[1], j[2], policy=policy,
                                                          deadline=deadline, ca_bundle=ca),
                                    jobs))
        found = [_found(Server("smtp", name, port, security, "%EMAILADDRESS%"), address,
                        "probe", _("tried: {server}", server=name + ":" + str(port)))
                 for (name, port, security), ok in zip(jobs, answers, strict=True) if ok]
        imap_host = f"imap.{domain}"
        if found and speaks_imap(imap_host, imap_port, policy=policy, deadline=deadline,
                                 ca_bundle=ca):  # and the copy in Sent's server
            found.append(Found(f"{imap_host}, {imap_port}, SSL", {
                "host": imap_host, "port": imap_port, "security": "ssl", "username": ""},
                "probe", _("tried: {server}", server=imap_host + ":" + str(imap_port)), None,
                COPY_SECTION))
        if not found:
            raise _Nothing(_("no server answered with TLS and AUTH: {servers}",
                             servers=", ".join(f"{n}:{p}" for n, p, _s in jobs)))
        return found


def _budget() -> float:
    import os

    try:
        return float(os.environ.get("FALCANA_DISCOVERY_BUDGET") or DEFAULT_BUDGET)
    except ValueError:
        return DEFAULT_BUDGET


class _Nothing(Exception):
    """A source answered nothing; ``detail`` says what it tried, in the reader's language."""

    def __init__(self, detail: Any) -> None:
        super().__init__(str(detail))
        self.detail = detail


def _attempt(fn: Callable[[], list[Found]]) -> tuple[str, Any, list[Found]]:
    try:
        found = fn()
    except _Nothing as nothing:
        return "nothing", nothing.detail, []
    except Exception as exc:  # one source failing must not stop the others
        return "failed", _reason(exc), []
    return ("found", "", found) if found else ("nothing", "", [])


def _reason(exc: BaseException) -> Any:
    """Why a source failed, a sentence in the reader's language first; what the system said
    (in its own words) after it. A refused destination says only that it was refused."""
    import socket
    import ssl

    from falcana_core.api import printable
    from falcana_core.api.net import DestinationRefused

    if isinstance(exc, DestinationRefused):
        return _("refused by the destination policy")
    said = printable(str(exc) or exc.__class__.__name__, 200)
    if isinstance(exc, socket.gaierror):
        sentence = _("the name was not found")
    elif isinstance(exc, ConnectionRefusedError):
        sentence = _("the connection was refused")
    elif isinstance(exc, TimeoutError | socket.timeout):
        sentence = _("no answer in time")
    elif isinstance(exc, ssl.SSLError):
        sentence = _("TLS failed")
    elif isinstance(exc, FetchError | ConfigError):
        sentence = _("no usable answer")
    else:
        sentence = _("failed")
    return _("{sentence} (system message: {said})", sentence=sentence, said=said)


def _joined(parts: Sequence[Any]) -> Any:
    """Several details as one text, each translated when shown."""
    return _("{first}; {rest}", first=parts[0], rest=_joined(parts[1:])) if len(
        parts) > 1 else (parts[0] if parts else "")


def _add(result: Discovery, found: list[Found]) -> None:
    """SMTP candidates in order, without repeats; for another section (the copy's IMAP
    server) the first proposal only."""
    seen = {(f.values.get("host"), f.values.get("port")) for f in result.found}
    for item in found:
        if item.section != SECTION:
            if all(a.section != item.section for a in result.also):
                result.also.append(item)
            continue
        key = (item.values.get("host"), item.values.get("port"))
        if key not in seen:
            result.found.append(item)
            seen.add(key)


def _parents(host: str) -> list[str]:
    """``mx00.ionos.de`` -> ``["ionos.de", "mx00.ionos.de"]``: the registrable domain (from
    the public suffix list) first, then the names between it and the host."""
    registrable = _suffixes().privatesuffix(host.lower().rstrip("."))
    if not registrable:
        return []
    labels = host.lower().rstrip(".").split(".")
    names = [".".join(labels[i:]) for i in range(len(labels))]
    between = [n for n in names if n.endswith("." + registrable)]
    return [registrable, *reversed(between)]


@functools.cache
def _suffixes() -> Any:
    """The public suffix list, read once (on first use: only MX look-ups need it)."""
    from publicsuffixlist import PublicSuffixList

    return PublicSuffixList()


def _for_address(cached: Discovery, address: str) -> Discovery:
    """A cached result for another address of the same domain: usernames follow it."""
    if cached.address == address:
        return cached
    old_local = cached.address.rpartition("@")[0]
    new_local = address.rpartition("@")[0]
    found = []
    for item in cached.found:
        values = dict(item.values)
        user = str(values.get("username", ""))
        if user == cached.address:
            values["username"] = address
        elif user == old_local:
            values["username"] = new_local
        found.append(Found(item.label, values, item.source, item.source_label, item.warning,
                           item.section))
    return Discovery(address, found, cached.tried, cached=True, also=cached.also)
