"""Hook implementations: recognise the providers, offer presets, add validation and help."""

from __future__ import annotations

from typing import Any

from falcana_smtp_settings.api import Detection, MxLookup, Preset

from falcana_core.api import HelpText, SectionContext, Validation, hookimpl, split_address
from falcana_providers_de.providers import BY_ID, LAST_CHECKED, PROVIDERS, Provider, _


def _detection(provider: Provider, reason: Any, confidence: int, via: str) -> Detection:
    presets = tuple(Preset(f"{provider.name}: {provider.host}, {port}, {security.upper()}",
                           provider.host, port, security) for port, security in provider.ports)
    return Detection(provider.id, provider.name, reason, confidence, presets, via)


@hookimpl
def detect_provider(address: str, host: str, mx: MxLookup) -> Detection | None:
    domain = split_address(address)[1].lower()
    for provider in PROVIDERS:
        if host == provider.host:
            return _detection(provider, _("The SMTP server is {name}'s ({host}).",
                                          name=provider.name, host=host), 90, "host")
    for provider in PROVIDERS:
        if domain in provider.domains:
            return _detection(provider, _("The address ends in {domain}.", domain=domain),
                              80, "domain")
    return None


@hookimpl
def provider_validate(ctx: SectionContext, provider: Detection,
                      values: dict[str, Any]) -> Validation | None:
    ours = BY_ID.get(provider.provider)
    if ours is None:
        return None
    v = Validation()
    address = str(values.get("email") or "")
    username = str(values.get("username") or "")
    if ours.id == "webde" and "@" in username:
        v.hint("username", _("WEB.DE expects the part before the @ as username: {local}.",
                             local=split_address(username)[0]), "webde_local_part")
    if ours.id == "ionos" and "@" in username and (
            split_address(address)[1].lower() != split_address(username)[1].lower()):
        v.warning("email", _("IONOS sends only mail whose From domain is the mailbox's domain "
                             "({domain}).", domain=split_address(username)[1]),
                  "ionos_from_domain")
    return v


@hookimpl
def provider_help(ctx: SectionContext, provider: Detection,
                  values: dict[str, Any]) -> list[HelpText]:
    ours = BY_ID.get(provider.provider)
    if ours is None:
        return []
    return [HelpText(f"providers_de.{ours.id}", _("{name}: special cases", name=ours.name),
                     ours.help, LAST_CHECKED, order=60)]
