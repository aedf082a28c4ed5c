"""A deployment settings section for a provider's OAuth2 client (id, secrets, endpoints).

Provider plugins use it for their ``deployment_settings_sections``; secret fields (the
client secret, a service account key) go to the secret store, write-only like passwords.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from falcana_core.api import (
    Field,
    FieldType,
    SectionContext,
    Text,
    Validation,
    current_language,
    text_in,
)
from falcana_oauth.i18n import _

REF = "deployment"


@dataclasses.dataclass(frozen=True)
class ClientField:
    id: str
    label: Text
    help: Text | None = None
    secret: bool = False
    default: str = ""
    multiline: bool = False  # a JSON key may hold line breaks
    https_url: bool = False  # an address a token is sent to: https only
    date: bool = False  # a day as YYYY-MM-DD (when a secret expires: warned ahead)
    boolean: bool = False  # a choice the admin makes (a checkbox)


class OAuthClientSection:
    """``OAuthClientSection("providers_m365", "oauth_microsoft", title, fields)``"""

    template: str | None = None

    def __init__(self, owner: str, section_id: str, title: Text,
                 client_fields: Sequence[ClientField], order: int = 50) -> None:
        self.owner = owner
        self.id = section_id
        self.title = title
        self.order = order
        self.client_fields = list(client_fields)

    def fields(self, ctx: SectionContext) -> Sequence[Field]:
        return [Field(f.id, f.label, FieldType.PASSWORD if f.secret else
                      FieldType.BOOLEAN if f.boolean else FieldType.TEXT,
                      help=f.help, multiline=f.multiline,
                      placeholder=f.default or ("YYYY-MM-DD" if f.date else None),
                      max_length=64 * 1024) for f in self.client_fields]

    def load(self, ctx: SectionContext) -> dict[str, Any]:
        return {f.id: None if f.secret else self.value(ctx.host, f.id)
                if f.boolean else ctx.host.setting(self.owner, f.id, "")
                for f in self.client_fields}

    def value(self, host: Any, field_id: str) -> Any:
        """The effective value (secrets as SecretValue, defaults applied)."""
        spec = next(f for f in self.client_fields if f.id == field_id)
        if spec.secret:
            return host.secrets.get(self.owner, field_id, REF)
        if spec.boolean:
            return host.setting(self.owner, field_id, False) is True
        return host.setting(self.owner, field_id, "") or spec.default

    def date(self, host: Any, field_id: str) -> dt.date | None:
        """A date field's day; None when empty (or not a date: it was checked on save)."""
        try:
            return dt.date.fromisoformat(str(self.value(host, field_id)))
        except ValueError:
            return None

    def is_set(self, ctx: SectionContext, field_id: str) -> bool:
        return ctx.host.secrets.has(self.owner, field_id, REF)

    def where_to_set_up(self, ctx: SectionContext) -> Text | None:
        """None once the client is set up; else who sets it up and where, for a help text
        that names a control this client brings ("Sign-in: OAuth2"): an admin gets the
        way there as a link."""
        if self.value(ctx.host, "client_id"):
            return None
        if not ctx.admin:
            return _("An admin sets it up under System settings ({section}).",
                     section=self.title)
        link = (f'<a href="{ctx.host.config.base_url}/admin/settings">'
                f'{text_in(_("System settings"), current_language())}</a>')
        return _("Set it up under {settings} ({section}).", settings=link, section=self.title)

    def validate(self, ctx: SectionContext, values: Mapping[str, Any]) -> Validation:
        v = Validation()
        for spec in self.client_fields:
            raw = values.get(spec.id)
            if raw is None or raw == "":
                continue
            if not isinstance(raw, str):
                continue  # text and control characters: the fields declare them
            if spec.https_url and not _https_url(raw.strip()):
                v.error(spec.id, _("Enter an address starting with https:// (a token is sent "
                                   "there)."), "https_required")
            elif spec.date and not _is_date(raw.strip()):
                v.error(spec.id, _("Enter a date as YYYY-MM-DD, e.g. 2027-06-30."),
                        "date_format")
            else:
                v.normalised[spec.id] = raw if spec.secret else raw.strip()
        return v

    def save(self, ctx: SectionContext, values: Mapping[str, Any]) -> dict[str, Any]:
        changes: dict[str, Any] = {}
        for spec in self.client_fields:
            value = values.get(spec.id)
            if spec.secret:
                if values.get(f"clear_{spec.id}"):
                    if ctx.host.secrets.delete(self.owner, spec.id, REF):
                        changes[spec.id] = "removed"
                elif value:
                    ctx.host.secrets.put(self.owner, spec.id, REF, str(value))
                    changes[spec.id] = "changed"
            elif value is not None and value != ctx.host.setting(self.owner, spec.id, ""):
                changes[spec.id] = [ctx.host.setting(self.owner, spec.id, ""), value]
                ctx.host.set_setting(self.owner, spec.id, value, actor=ctx.actor)
        return changes


def _is_date(value: str) -> bool:
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        return False
    return len(value) == 10


def _https_url(value: str) -> bool:
    import urllib.parse

    parts = urllib.parse.urlsplit(value)
    return parts.scheme == "https" and bool(parts.hostname) and not parts.query \
        and not parts.fragment and not parts.username
