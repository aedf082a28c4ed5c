"""The "Kopie in Gesendet" part of the popup: on / off / automatic, the IMAP server, and
the folder. The username defaults to the e-mail one; the e-mail password goes to the IMAP
server only where an admin allowed it (``use_smtp_password``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from falcana_smtp_settings.api import binding

from falcana_core.api import (
    AddressError,
    Choice,
    Field,
    FieldType,
    SectionContext,
    Text,
    Validation,
    normalise_host,
)
from falcana_sent_copy.i18n import _
from falcana_sent_copy.models import SentCopySettings
from falcana_sent_copy.settings import (
    DEFAULT_PORTS,
    MODES,
    OWNER,
    PASSWORD,
    SECURITY,
    allowed_for,
    own_password,
    ref,
    smtp_password_allowed,
    store_password,
)

SECTION_ID = "sent_copy"
MAX_LEN = {"host": 255, "username": 320, "folder": 500, "password": 1024}


class SentCopySection:
    id: str = SECTION_ID
    title: Text = _("Copy in Sent (IMAP)")
    order: int = 20
    template: str | None = None
    collapsed = True  # most mailboxes need nothing here: the provider plugins decide

    def fields(self, ctx: SectionContext) -> Sequence[Field]:
        return (
            Field("mode", _("Copy in Sent"), FieldType.CHOICE, choices=(
                Choice("auto", _("automatic (not for Microsoft 365 and Gmail, which file it "
                                 "themselves)")),
                Choice("on", _("on")), Choice("off", _("off"))),
                help=_("A copy of every mail falcana sends goes into the mailbox's Sent "
                       "folder, so the user's mail program shows it. Not when the mailbox "
                       "sends through Microsoft Graph or the Gmail API: they file it "
                       "themselves.")),
            Field("host", _("IMAP server"), admin_only=True, max_length=MAX_LEN["host"],
                  help=_("The incoming mail server (IMAP) of the same mailbox.")),
            Field("port", _("IMAP port"), FieldType.INTEGER, admin_only=True,
                  suggestions=("993", "143"),
                  follows=("security", {k: str(v) for k, v in DEFAULT_PORTS.items()})),
            Field("security", _("IMAP connection type"), FieldType.CHOICE, admin_only=True,
                  choices=(Choice("ssl", _("SSL (993)")), Choice("tls", _("TLS (STARTTLS, 143)")),
                           Choice("normal", _("normal (unencrypted)")))),
            Field("username", _("IMAP username"), admin_only=True,
                  max_length=MAX_LEN["username"],
                  help=_("Leave empty to use the e-mail username.")),
            Field("password", _("IMAP password"), FieldType.PASSWORD,
                  max_length=MAX_LEN["password"],
                  help=_("The password of the IMAP login. It goes only to the IMAP server, "
                         "port, username and connection type it was saved with.")),
            Field("use_smtp_password", _("Use the e-mail password for IMAP"),
                  FieldType.BOOLEAN, admin_only=True,
                  cleared_by=("host", "port", "security", "username"),
                  help=_("When the IMAP login is the same account as the e-mail login: the "
                         "e-mail password goes to this IMAP server too. Only an admin may "
                         "allow it; it holds for the IMAP server, port, username and "
                         "connection type saved with it and ends when one of them changes.")),
            Field("folder", _("Folder"), max_length=MAX_LEN["folder"],
                  help=_("Leave empty: falcana finds the Sent folder (marked as such by the "
                         "server, or named Gesendet, Sent, Gesendete Elemente ...) and "
                         "remembers it.")),
        )

    def load(self, ctx: SectionContext) -> dict[str, Any]:
        assert ctx.mailbox is not None
        with ctx.host.sessions() as s:
            row = s.get(SentCopySettings, ctx.mailbox.id)
            return {"mode": row.mode if row else "auto", "host": row.host if row else "",
                    "port": row.port if row else 993,
                    "security": row.security if row else "ssl",
                    "username": row.username if row else "", "password": None,
                    "use_smtp_password": bool(row and smtp_password_allowed(row)),
                    "folder": row.folder if row else ""}

    def is_set(self, ctx: SectionContext, field_id: str) -> bool:
        return field_id == "password" and ctx.mailbox is not None and \
            ctx.host.secrets.has(OWNER, PASSWORD, ref(ctx.mailbox.id))

    def validate(self, ctx: SectionContext, values: Mapping[str, Any]) -> Validation:
        if ctx.mailbox is not None:  # a partial save (the Python API) keeps the rest
            stored = {k: v for k, v in self.load(ctx).items()
                      if k not in ("password", "use_smtp_password")}
            values = {**stored, **values}
        v = Validation()
        clean: dict[str, Any] = {}
        mode = str(values.get("mode") or "auto")
        if mode not in MODES:
            v.error("mode", _("Choose automatic, on or off."), "invalid")
        clean["mode"] = mode
        for fid in ("host", "username", "folder", "password"):
            raw = values.get(fid)
            raw = "" if raw is None else raw
            if not isinstance(raw, str):
                continue  # text, length and control characters: the fields declare them
            clean[fid] = raw if fid == "password" else raw.strip()
        if clean.get("host"):
            try:
                clean["host"] = normalise_host(clean["host"])
            except AddressError:
                v.error("host", _("This is not a valid server name or IP address."), "invalid")
        elif mode == "on":
            v.error("host", _("Enter the IMAP server, or switch the copy off."), "required")
        security = str(values.get("security") or "ssl")
        if security not in SECURITY:
            v.error("security", _("Choose SSL, TLS or normal."), "invalid")
        clean["security"] = security
        port = _port(values.get("port"), security, v)
        if port is not None:
            clean["port"] = port
        if security == "normal" and clean.get("host"):
            v.warning("security", _("With connection type normal the password travels "
                                    "unencrypted. Use SSL or TLS if the server offers it."),
                      "plaintext_password")
        if v.ok and ctx.mailbox is not None and not clean.get("password"):
            self._check_binding(ctx, clean, v)
        clean["password"] = clean.get("password") or None
        clean["clear_password"] = bool(values.get("clear_password"))
        if values.get("use_smtp_password") is not None:
            clean["use_smtp_password"] = bool(values.get("use_smtp_password"))
        v.normalised = clean
        return v

    def _check_binding(self, ctx: SectionContext, clean: Mapping[str, Any],
                       v: Validation) -> None:
        assert ctx.mailbox is not None
        found = own_password(ctx.host, ctx.mailbox.id)
        if found is None:
            return
        _secret, bound = found
        wanted = binding(clean.get("username") or "", clean.get("host") or "",
                         clean.get("port") or 0, clean.get("security") or "")
        if bound and any(str(bound.get(k)) != str(wanted[k]) for k in wanted):
            v.error("password", _("Enter the IMAP password again: the stored one was saved "
                                  "for another server, port, username or connection type."),
                    "rebind")

    def save(self, ctx: SectionContext, values: Mapping[str, Any]) -> dict[str, Any]:
        assert ctx.mailbox is not None
        changes: dict[str, Any] = {}
        with ctx.host.transaction() as s:
            row = s.get(SentCopySettings, ctx.mailbox.id)
            if row is None:
                row = SentCopySettings(mailbox_id=ctx.mailbox.id)
                s.add(row)
            was = smtp_password_allowed(row)
            for fid in ("mode", "host", "port", "security", "username", "folder"):
                value = values.get(fid)
                if value is not None and getattr(row, fid, None) != value:
                    changes[fid] = [getattr(row, fid, None), value]
                    setattr(row, fid, value)
            allow = values.get("use_smtp_password")
            if allow is not None:
                # ticked: bound to the IMAP fields of this save; a later change of one of
                # them ends it (smtp_password_allowed compares)
                row.smtp_password_for = allowed_for(row) if allow else None
                if bool(allow) != was:
                    changes["use_smtp_password"] = [was, bool(allow)]
            if values.get("clear_password"):
                if ctx.host.secrets.delete(OWNER, PASSWORD, ref(ctx.mailbox.id), session=s):
                    changes["password"] = "removed"
            elif values.get("password"):
                store_password(ctx.host, s, ctx.mailbox.id, str(values["password"]), binding(
                    row.username, row.host, row.port, row.security))
                changes["password"] = "changed"
        return changes


def _port(raw: Any, security: str, v: Validation) -> int | None:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return DEFAULT_PORTS.get(security, 993)
    text = str(raw).strip()
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= 65535:
        v.error("port", _("The port must be between 1 and 65535."), "range")
        return None
    return int(text)
