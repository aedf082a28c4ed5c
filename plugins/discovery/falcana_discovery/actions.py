"""The "Einstellungen ermitteln" button beside the e-mail field: it discovers for the
address as typed (not yet saved) and hands the popup what to fill in."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from falcana_smtp_settings.api import Discovery, discover

from falcana_core.api import Action, AddressError, SectionContext, normalise_address
from falcana_discovery.i18n import _


def detect(ctx: SectionContext, params: Mapping[str, Any]) -> Discovery:
    typed = str(params.get("email") or "").strip() or (ctx.mailbox.address if ctx.mailbox
                                                     else "")
    try:
        address = normalise_address(typed)
    except AddressError:
        raise ValueError(str(_("Enter a valid e-mail address first."))) from None
    found = discover(ctx.host, address)
    if found is None:  # pragma: no cover - this plugin answers the hook itself
        raise ValueError(str(_("No plugin finds settings.")))
    ctx.host.audit.record(ctx.actor, "discovery.detect", "mailbox",
                          str(ctx.mailbox.id) if ctx.mailbox else "",
                          {"domain": address.rpartition("@")[2],
                           "source": found.found[0].source if found.found else None})
    return found


ACTIONS = [Action("discovery.detect", _("Find settings"), "smtp", detect, order=5,
                  beside="email", auto_when_empty="host", template="discovery/found.html",
                  rate_limited=False)]
