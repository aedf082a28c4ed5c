"""What finding a mailbox's settings returns (``discover(host, address)``), whichever
plugin finds them (hook ``discover_settings``: the discovery plugin). Values are keyed by
the field ids of the section they fill, so a form is filled without knowing what the
fields mean."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from falcana_core.api import Text, current_language, text_in
from falcana_smtp_settings.i18n import _

if TYPE_CHECKING:
    from falcana_core.api import Host


@dataclasses.dataclass(frozen=True)
class Found:
    """One candidate: what to fill in, and where it came from."""

    label: str  # "smtp.ionos.de, 465, SSL"
    values: Mapping[str, Any]  # by field id, e.g. host, port, security, username
    source: str  # "plugin", "ispdb", "autoconfig", "srv", "mx", "probe"
    source_label: Text  # "Thunderbird ISP database (1&1)", shown as "Found via: ..."
    warning: Text | None = None
    section: str = ""  # the section whose fields ``values`` fill


#: the sources a discovery asks, by ``Found.source`` / ``Tried.source``
SOURCE_LABELS: dict[str, Text] = {
    "plugin": _("provider plugins"), "ispdb": _("Thunderbird ISP database"),
    "autoconfig": _("the domain's autoconfig"), "srv": _("DNS SRV records"),
    "mx": _("MX records"), "probe": _("trying servers")}


@dataclasses.dataclass(frozen=True)
class Tried:
    """One source asked, with its outcome ("found", "nothing", "failed") and time."""

    source: str
    outcome: str
    detail: Text  # what was tried and what came of it, in the reader's language
    ms: float


@dataclasses.dataclass
class Discovery:
    address: str
    found: list[Found]
    tried: list[Tried]
    cached: bool = False
    #: proposals for other sections of the same mailbox (the IMAP server for the copy in
    #: Sent), one per section, from the source that made the proposal
    also: list[Found] = dataclasses.field(default_factory=list)

    @property
    def proposal(self) -> Found | None:
        return self.found[0] if self.found else None

    def as_dict(self, lang: str | None = None) -> dict[str, Any]:
        """The versioned document of ``falcana mail detect --json`` (and the popup's)."""
        lang = lang or current_language()
        return {
            "version": 1,
            "address": self.address,
            "cached": self.cached,
            "found": [{
                "label": f.label, "values": dict(f.values), "source": f.source,
                "source_label": text_in(f.source_label, lang),
                "warning": text_in(f.warning, lang) if f.warning is not None else None,
                "section": f.section,
            } for f in self.found],
            "tried": [{"source": t.source, "outcome": t.outcome,
                       "detail": text_in(t.detail, lang), "ms": t.ms,
                       "source_label": text_in(SOURCE_LABELS.get(t.source, t.source), lang)}
                      for t in self.tried],
            "also": [{"section": f.section, "values": dict(f.values), "label": f.label,
                      "source_label": text_in(f.source_label, lang)} for f in self.also],
        }


def discover(host: Host, address: str) -> Discovery | None:
    """Server settings for ``address`` from whichever plugin finds them (the discovery
    plugin: provider plugins, the ISP database, autoconfig, SRV, MX, probing); None when
    no enabled plugin looks."""
    found: Discovery | None = host.hook.call("discover_settings", host=host,
                                             address=address.strip())
    return found
