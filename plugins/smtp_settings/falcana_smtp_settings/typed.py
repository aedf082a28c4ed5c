"""The settings as they stand on the screen, for a test that saves nothing.

"Test-e-mail senden" tests what was typed: the stored settings with the form's changes,
checked exactly as a save checks them (the section's and other plugins' validation, what
a non-admin may change), with the password a save would keep: the one typed, else the
stored one, which goes only where it was saved for (a moved server asks for it again).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from falcana_core.api import SecretValue, SectionContext, Validation
from falcana_smtp_settings.ids import SECTION_ID
from falcana_smtp_settings.settings import SmtpSettings, load_settings, server_of

#: the fields a test takes from the form (the transport and sign-in are tested as saved)
TYPED = ("email", "display_name", "username", "password", "port", "security", "host")


@dataclasses.dataclass
class Typed:
    """What to test: ``settings`` (None when ``validation`` has errors) and whether they
    differ from what is saved."""

    settings: SmtpSettings | None
    validation: Validation
    unsaved: bool


def settings_as_typed(ctx: SectionContext, params: Mapping[str, Any]) -> Typed:
    """The settings to test for ``params`` (the form's fields by id; those left out, or
    ``None``, stay as saved; an empty password keeps the stored one)."""
    assert ctx.mailbox is not None
    section = ctx.host.section(SECTION_ID)
    stored = section.load(ctx)
    typed = {k: params[k] for k in TYPED if params.get(k) is not None}
    password = typed.pop("password", None) or None
    values = {**stored, **typed, "password": password}
    unsaved = bool(password) or any(str(values[k]) != str(stored[k]) for k in typed)
    # the saved settings are checked too: an incomplete mailbox (no server yet) says so
    # before any connection, as a save would
    validation = ctx.host.validate_section(ctx.mailbox, SECTION_ID, values, ctx.actor)
    if not validation.ok:
        return Typed(None, validation, unsaved)
    if not unsaved:
        return Typed(load_settings(ctx.host, ctx.mailbox), validation, False)
    merged = {**values, **validation.normalised}
    saved = load_settings(ctx.host, ctx.mailbox)
    moved = server_of(str(merged["host"]), int(merged["port"])) != server_of(
        saved.host, saved.port)
    settings = dataclasses.replace(
        saved,
        address=str(merged["email"]),
        sender_name=str(merged.get("display_name") or "") or _default_name(ctx),
        username=str(merged.get("username") or merged["email"]),
        # validation refused a moved binding without a password: the stored one fits
        password=SecretValue(password) if password else saved.password,
        host=str(merged["host"]), port=int(merged["port"]), security=str(merged["security"]),
        pin=None if moved else saved.pin,  # a pin belongs to the server it was taken from
        provider=None)  # recognised again for what was typed
    return Typed(settings, validation, True)


def _default_name(ctx: SectionContext) -> str:
    return ctx.user.full_name if ctx.user is not None else ""
