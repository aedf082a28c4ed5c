"""Thunderbird's clientConfig format (config-v1.1), as the ISP database and a domain's own
autoconfig file speak it: the SMTP servers (several, in the provider's order of
preference) and the IMAP servers of one provider.

https://wiki.mozilla.org/Thunderbird:Autoconfiguration:ConfigFileFormat
"""

from __future__ import annotations

import dataclasses
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence

import defusedxml
import defusedxml.ElementTree as SafeET

MAX_BYTES = 256 * 1024  # a clientConfig is a few KiB; anything far larger is not one

#: socketType -> our connection type
SECURITY = {"SSL": "ssl", "STARTTLS": "tls", "PLAIN": "normal"}


class ConfigError(ValueError):
    """Not a usable clientConfig document."""


@dataclasses.dataclass(frozen=True)
class Server:
    """One <outgoingServer type="smtp"> or <incomingServer type="imap">."""

    kind: str  # "smtp" or "imap"
    host: str
    port: int
    security: str  # "ssl", "tls", "normal"
    username: str  # the form: "%EMAILADDRESS%", "%EMAILLOCALPART%", a fixed name ...
    authentication: tuple[str, ...] = ()

    def username_for(self, address: str) -> str:
        return fill(self.username, address)

    def for_address(self, address: str) -> Server:
        """This server for one address: the format's placeholders filled in, in the host
        name too ("mail.%EMAILDOMAIN%")."""
        return dataclasses.replace(self, host=fill(self.host, address).lower(),
                                   username=fill(self.username, address))

    @property
    def needs_oauth(self) -> bool:
        return bool(self.authentication) and all(a == "OAuth2" for a in self.authentication)


@dataclasses.dataclass(frozen=True)
class Provider:
    id: str
    name: str
    domains: tuple[str, ...]
    smtp: tuple[Server, ...]
    imap: tuple[Server, ...]

    def for_address(self, address: str) -> Provider:
        """The provider as it serves one address: every placeholder filled in (its display
        name may carry one too: "%EMAILDOMAIN%")."""
        return dataclasses.replace(
            self, name=fill(self.name, address),
            smtp=tuple(s.for_address(address) for s in self.smtp),
            imap=tuple(s.for_address(address) for s in self.imap))


#: the placeholders the format defines for what depends on the address
_PLACEHOLDER = re.compile(r"%(EMAILADDRESS|EMAILLOCALPART|EMAILDOMAIN)%", re.IGNORECASE)


def fill(template: str, address: str) -> str:
    """``template`` with the address's placeholders filled in (case-insensitive: host
    names are read in lower case)."""
    local, _, domain = address.rpartition("@")
    values = {"EMAILADDRESS": address, "EMAILLOCALPART": local, "EMAILDOMAIN": domain}
    return _PLACEHOLDER.sub(lambda m: values[m.group(1).upper()], template)


def parse(data: bytes | str) -> Provider:
    """The provider of a clientConfig document; ``ConfigError`` when it is none.

    The document may come from a hostile server: parsed by defusedxml, which refuses a
    document type declaration (entities, external references) by construction."""
    raw = data.encode() if isinstance(data, str) else data
    if len(raw) > MAX_BYTES:
        raise ConfigError("larger than a clientConfig document can be")
    try:  # the parser refuses a DTD itself, in whatever encoding the document is written
        root = SafeET.fromstring(raw, forbid_dtd=True)
    except defusedxml.DefusedXmlException:
        raise ConfigError("a document type declaration is not allowed") from None
    except ET.ParseError as exc:
        raise ConfigError(f"not XML: {exc}") from None
    provider = root.find("emailProvider")
    if root.tag != "clientConfig" or provider is None:
        raise ConfigError("not a clientConfig document")
    name = (provider.findtext("displayName") or provider.get("id") or "").strip()
    domains = tuple(d.text.strip().lower() for d in provider.findall("domain")
                    if d.text and d.text.strip())
    return Provider(provider.get("id") or (domains[0] if domains else ""), name, domains,
                    _servers(provider.findall("outgoingServer"), "smtp"),
                    _servers(provider.findall("incomingServer"), "imap"))


def _servers(elements: Sequence[ET.Element], kind: str) -> tuple[Server, ...]:
    found = []
    for element in elements:
        if element.get("type") != kind:
            continue
        host = (element.findtext("hostname") or "").strip().lower()
        port = (element.findtext("port") or "").strip()
        security = SECURITY.get((element.findtext("socketType") or "").strip().upper())
        if not host or not port.isdigit() or security is None or not 0 < int(port) < 65536:
            continue
        auth = tuple((a.text or "").strip() for a in element.findall("authentication"))
        found.append(Server(kind, host, int(port), security,
                            (element.findtext("username") or "%EMAILADDRESS%").strip(), auth))
    return tuple(found)
