"""The bundled copy of Thunderbird's ISP database (MPL-2.0; ``data/SOURCE.md`` names the
commit): one clientConfig file per provider, indexed by mail domain on first use."""

from __future__ import annotations

import functools
import logging
from pathlib import Path

from falcana_discovery.clientconfig import ConfigError, Provider, parse

DATA = Path(__file__).parent / "data" / "ispdb"
log = logging.getLogger(__name__)


@functools.cache
def index() -> dict[str, Provider]:
    """Mail domain -> provider, for every file of the bundled database."""
    found: dict[str, Provider] = {}
    for path in sorted(DATA.glob("*.xml")):
        try:
            provider = parse(path.read_bytes())
        except ConfigError as exc:
            log.warning("ISP database: %s skipped (%s)", path.name, exc)
            continue
        for domain in provider.domains:
            found.setdefault(domain, provider)
    return found


def lookup(domain: str) -> Provider | None:
    return index().get(domain.strip().rstrip(".").lower())


@functools.cache
def servers() -> dict[str, str]:
    """Server name -> provider name, for every server of the bundled database whose name
    does not depend on the address."""
    found: dict[str, str] = {}
    for provider in index().values():
        for server in (*provider.smtp, *provider.imap):
            if "%" not in server.host:
                found.setdefault(server.host, provider.name)
    return found
