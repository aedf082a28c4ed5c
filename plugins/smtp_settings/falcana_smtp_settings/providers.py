"""The recognised provider, found once per request and handed to the provider plugins'
``provider_validate`` and ``provider_help`` hooks."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from falcana_core.api import HelpText, SectionContext, Validation
from falcana_smtp_settings.detection import Detection, detect_provider


def detect(ctx: SectionContext, values: Mapping[str, Any]) -> Detection | None:
    address = str(values.get("email") or (ctx.mailbox.address if ctx.mailbox else ""))
    return detect_provider(ctx.host, address, str(values.get("host") or ""))


def validate_for_provider(ctx: SectionContext, values: dict[str, Any]) -> Validation | None:
    """Every provider plugin's checks of these (already normalised) values, combined."""
    provider = detect(ctx, values)
    if provider is None:
        return None
    combined = Validation()
    for _plugin, found in ctx.host.hook.call("provider_validate", ctx=ctx,
                                             provider=provider, values=values):
        combined.extend(found)
    return combined


def help_for_provider(ctx: SectionContext, values: dict[str, Any]) -> list[HelpText]:
    provider = detect(ctx, values)
    if provider is None:
        return []
    return [help_ for _plugin, help_ in ctx.host.hook.call(
        "provider_help", ctx=ctx, provider=provider, values=values)]
