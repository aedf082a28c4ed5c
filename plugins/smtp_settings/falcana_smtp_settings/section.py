"""The "e-mail-Einstellungen" section: the seed's seven fields, validated in one place."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.orm import Session

from falcana_core.api import (
    AddressError,
    Choice,
    Field,
    FieldType,
    Mailbox,
    SectionContext,
    Text,
    Validation,
    normalise_address,
    normalise_host,
)
from falcana_smtp_settings.detection import Detection, detect_provider
from falcana_smtp_settings.i18n import _
from falcana_smtp_settings.ids import SECTION_ID, SMTP
from falcana_smtp_settings.models import SmtpAccount
from falcana_smtp_settings.settings import (
    DEFAULT_PORTS,
    OWNER,
    PASSWORD,
    SECURITY_CHOICES,
    binding,
    secret_ref,
    store_password,
    stored_password,
)

FIELD_IDS = ("email", "display_name", "username", "password", "port", "security", "host")
#: the fields only SMTP uses: hidden (and kept as stored) while a mail API sends
SMTP_ONLY = ("username", "password", "port", "security", "host")
SMTP_SHOWN = ("transport", (SMTP,))
MAX_LEN = {"email": 320, "display_name": 255, "username": 320, "password": 1024,
           "host": 255}


class SmtpSection:
    """Fields in the seed's order; the password is write-only."""

    id: str = SECTION_ID
    title: Text = _("E-mail settings")
    order: int = 10
    template: str | None = "smtp_settings/section.html"

    def auth_choices(self, ctx: SectionContext, values: Mapping[str, Any] | None = None
                     ) -> list[Choice]:
        """Password, plus the sign-in methods plugins offer for these settings (OAuth2);
        empty when no plugin offers one (the field is then not shown)."""
        _current, offered = self._offered(ctx, values, "smtp_auth_methods")
        # a mail API signs in with OAuth2 only: the password is an SMTP choice
        password = Choice("password", _("Password"), shown_when=SMTP_SHOWN)
        return [password, *offered] if offered else []

    def transport_choices(self, ctx: SectionContext, values: Mapping[str, Any] | None = None
                          ) -> list[Choice]:
        """SMTP, plus the mail APIs plugins offer for these settings (hook
        ``transport_choices``); empty when none is offered (the field is then not shown)."""
        _current, offered = self._offered(ctx, values, "transport_choices")
        return [Choice(SMTP, _("SMTP")), *offered] if offered else []

    def _offered(self, ctx: SectionContext, values: Mapping[str, Any] | None,
                 hook: str) -> tuple[dict[str, Any], list[Choice]]:
        """What plugins offer through ``hook`` for the values shown (else the stored)."""
        if ctx.mailbox is None:
            return {}, []
        current = dict(values) if values is not None else self._stored(ctx)
        current["email"] = current.get("email") or ctx.mailbox.address
        return current, [c for _plugin, c in ctx.host.hook.call(hook, ctx=ctx,
                                                                values=current)]

    def detect_provider(self, ctx: SectionContext, values: Mapping[str, Any]
                        ) -> Detection | None:
        """The provider recognised in the values shown (with its presets)."""
        from falcana_smtp_settings.providers import detect

        return detect(ctx, values)

    def _stored(self, ctx: SectionContext) -> dict[str, Any]:
        with ctx.host.sessions() as s:
            account = s.get(SmtpAccount, ctx.mailbox.id) if ctx.mailbox else None
        return {"email": ctx.mailbox.address if ctx.mailbox else "",
                "host": account.host if account else "",
                "transport": (ctx.mailbox.transport if ctx.mailbox else "") or SMTP}

    def fields(self, ctx: SectionContext) -> Sequence[Field]:
        user = ctx.user
        default_name = user.full_name if user else ""
        auth = self.auth_choices(ctx)
        auth_field = (Field("auth_method", _("Sign-in"), FieldType.CHOICE, choices=auth,
                            help=_("Password (or app password), or OAuth2 where the provider "
                                   "needs or prefers it.")),) if auth else ()
        transports = self.transport_choices(ctx)
        transport_field = (Field(
            "transport", _("Send through"), FieldType.CHOICE, choices=transports,
            help=_("SMTP, or the provider's mail API where SMTP is closed (SMTP AUTH "
                   "switched off, Security Defaults) or needs a restricted permission. A "
                   "mail API signs in with OAuth2 and needs no SMTP settings.")),
        ) if transports else ()
        shown = SMTP_SHOWN if transports else None
        return (
            Field("email", _("E-mail"), FieldType.EMAIL, required=True, admin_only=True,
                  max_length=MAX_LEN["email"], refreshes_help=True,
                  help=_("The user's e-mail address: mail goes out from this address.")),
            Field("display_name", _("Display name"), max_length=MAX_LEN["display_name"],
                  help=_("The name recipients see. Left empty, falcana uses the user's first "
                         "and last name."),
                  placeholder=default_name or None),
            *transport_field,
            Field("username", _("E-mail username"), shown_when=shown,
                  max_length=MAX_LEN["username"],
                  help=_("The login name of the mailbox. Very often the e-mail address, but "
                         "the provider may give another.")),
            *auth_field,
            Field("password", _("E-mail password"), FieldType.PASSWORD, shown_when=shown,
                  max_length=MAX_LEN["password"],
                  help=_("The mailbox password (or app password). Stored encrypted, never "
                         "shown again; leave empty to keep the stored one. It goes only to "
                         "the server, port, username and connection type it was saved with: "
                         "changing one of them needs the password again.")),
            Field("port", _("E-mail port"), FieldType.INTEGER, required=True, shown_when=shown,
                  suggestions=("587", "465", "25"),
                  follows=("security", {k: str(v) for k, v in DEFAULT_PORTS.items()}),
                  help=_("The port the provider gives; common are 587 (TLS), 465 (SSL) "
                         "and 25.")),
            Field("security", _("E-mail connection type"), FieldType.CHOICE, required=True,
                  shown_when=shown,
                  choices=(Choice("normal", _("normal (unencrypted)")),
                           Choice("tls", _("TLS (STARTTLS)")),
                           Choice("ssl", _("SSL (encrypted from the start)"))),
                  help=_("As given by the provider. TLS requires STARTTLS: falcana never "
                         "falls back to an unencrypted connection.")),
            Field("host", _("Outgoing mail server (SMTP)"), required=True, shown_when=shown,
                  max_length=MAX_LEN["host"], refreshes_help=True,
                  help=_("The SMTP server of the e-mail provider, a host name or an IP "
                         "address.")),
        )

    # -- load --------------------------------------------------------------------------

    def load(self, ctx: SectionContext) -> dict[str, Any]:
        box = _mailbox(ctx)
        with ctx.host.sessions() as s:
            account = s.get(SmtpAccount, box.id)
            mailbox = s.get(Mailbox, box.id) or box
            return {
                "email": mailbox.address,
                "display_name": mailbox.display_name,
                "username": account.username if account else "",
                "password": None,
                "port": account.port if account else DEFAULT_PORTS["tls"],
                "security": account.security if account else "tls",
                "host": account.host if account else "",
                "auth_method": account.auth_method if account else "password",
                "transport": mailbox.transport or SMTP,
            }

    def is_set(self, ctx: SectionContext, field_id: str) -> bool:
        if field_id != "password":
            return False
        return ctx.host.secrets.has(OWNER, PASSWORD, secret_ref(_mailbox(ctx).id))

    # -- validate ----------------------------------------------------------------------

    def validate(self, ctx: SectionContext, values: Mapping[str, Any]) -> Validation:
        """Field errors in the admin's language; never raises on odd input."""
        v = Validation()
        clean: dict[str, Any] = {}
        transport = values.get("transport") or SMTP
        if not isinstance(transport, str):
            transport = ""
        api = transport != SMTP
        if api and ctx.mailbox is not None:
            # the SMTP fields are hidden: what is not sent stays as stored
            stored = self.load(ctx)
            values = {**values, **{k: stored[k] for k in SMTP_ONLY
                                   if values.get(k) in (None, "")}}
        for fid in ("email", "display_name", "username", "host", "password"):
            raw = values.get(fid)
            if raw is None:
                clean[fid] = None if fid == "password" else ""
                continue
            if not isinstance(raw, str):
                continue  # text, length and control characters: the fields declare them
            clean[fid] = raw if fid == "password" else raw.strip()

        if "email" in clean:
            if not clean["email"]:
                v.error("email", _("Enter the e-mail address."), "required")
            else:
                try:
                    clean["email"] = normalise_address(clean["email"])
                except AddressError:
                    v.error("email", _("This is not a valid e-mail address."), "invalid")
        if "host" in clean:
            if not clean["host"] and api:
                pass  # a mail API needs no SMTP server
            elif not clean["host"]:
                v.error("host", _("Enter the outgoing mail server."), "required")
            else:
                try:
                    clean["host"] = normalise_host(clean["host"])
                except AddressError:
                    v.error("host", _("This is not a valid server name or IP address."),
                            "invalid")

        security = values.get("security")
        security = security.strip().lower() if isinstance(security, str) else security
        if security not in SECURITY_CHOICES:
            v.error("security", _("Choose normal, TLS or SSL."), "invalid")
            security = None
        else:
            clean["security"] = security

        port = _port(values.get("port"), security, v)
        policy = ctx.host.config.net_policy
        if port is not None and not policy.allows_port(port, admin=ctx.admin) and (
                ctx.mailbox is None or port != self.load(ctx)["port"]):  # an admin's stays
            v.error("port", _("Users may use the ports {ports}; ask an admin for another.",
                              ports=policy.describe_ports()), "port_not_allowed")
        elif port is not None:
            clean["port"] = port

        if clean.get("password") == "":
            clean["password"] = None  # empty on save: keep the stored one
        clear = bool(values.get("clear_password"))
        clean["clear_password"] = clear
        if clear and clean.get("password"):
            v.error("password", _("Either enter a new password or remove it, not both."),
                    "conflict")

        if port is not None and security:
            if port == 465 and security == "tls":
                v.warning("port", _("Port 465 usually expects SSL, not TLS."), "465_tls")
            if port == 587 and security == "ssl":
                v.warning("port", _("Port 587 usually expects TLS, not SSL."), "587_ssl")
        will_have_password = bool(clean.get("password")) or (
            not clear and ctx.mailbox is not None and self.is_set(ctx, "password"))
        method = values.get("auth_method") or "password"
        if not will_have_password and not api and method == "password" and \
                not any(m.severity.value == "error" for m in v.messages):
            v.warning("password", _("No password is stored: this mailbox cannot sign in, and "
                                    "its mail waits, until one is entered."), "no_password")
        if security == "normal" and will_have_password and not api:
            v.warning("security", _("With connection type normal the password travels "
                                    "unencrypted. Use TLS or SSL if the server offers it."),
                      "plaintext_password")

        if v.ok and ctx.mailbox is not None and not clean.get("password") and not clear \
                and not api:
            self._check_binding(ctx, clean, values.get("auth_method") or "password", v)

        offered = {c.value: c.label
                   for c in self.transport_choices(ctx, {**values, **clean})}
        if api and transport not in offered:
            v.error("transport", _("This way of sending is not available: it needs the "
                                   "provider's OAuth2 client, configured in the system "
                                   "settings."), "invalid")
        clean["transport"] = transport
        method = values.get("auth_method") or "password"
        if method == "password" and api and transport in offered:
            v.error("auth_method", _("{transport} signs in with OAuth2: choose an OAuth2 "
                                     "sign-in.", transport=offered[transport]),
                    "oauth_required")
        elif method != "password":
            allowed = {c.value for c in self.auth_choices(ctx, {**values, **clean})}
            if method not in allowed:
                v.error("auth_method", _("This sign-in is not available: no OAuth2 client "
                                         "for this provider is configured."), "invalid")
        clean["auth_method"] = method
        if v.ok and not clean.get("username") and clean.get("email"):
            clean["username"] = clean["email"]  # suggested as the address
        v.normalised = {k: val for k, val in clean.items()
                        if k in FIELD_IDS or k in ("clear_password", "auth_method", "transport")}
        return v

    def _check_binding(self, ctx: SectionContext, clean: Mapping[str, Any], method: str,
                       v: Validation) -> None:
        """A stored password goes only where it was saved for: a save that moves it to
        another server, port, username or connection type must enter it again."""
        assert ctx.mailbox is not None
        found = stored_password(ctx.host, ctx.mailbox.id)
        if found is None or method != "password":
            return
        _password, bound = found
        if bound is None:  # saved before binding: bound to what is stored now
            now = self.load(ctx)
            bound = binding(now["username"], now["host"], now["port"], now["security"])
        wanted = binding(clean.get("username") or clean.get("email") or "",
                         clean.get("host") or "", clean.get("port") or 0,
                         clean.get("security") or "")
        moved = [fid for fid in ("host", "port", "username", "security")
                 if str(bound.get(fid)) != str(wanted[fid])]
        if moved:
            v.error("password", _("Enter the password again: the stored one was saved for "
                                  "another server, port, username or connection type, and "
                                  "goes nowhere else."), "rebind")

    # -- save --------------------------------------------------------------------------

    def save(self, ctx: SectionContext, values: Mapping[str, Any]) -> dict[str, Any]:
        """Store all fields in one transaction; returns the audit changes."""
        box = _mailbox(ctx)
        changes: dict[str, Any] = {}
        host = ctx.host
        with host.transaction() as s:
            mailbox = s.get(Mailbox, box.id)
            assert mailbox is not None
            account = s.get(SmtpAccount, box.id)
            if account is None:
                account = SmtpAccount(mailbox_id=box.id, username="", host="", port=0,
                                      security="")
                s.add(account)
            _set(changes, mailbox, "address", "email", values.get("email"))
            _set(changes, mailbox, "display_name", "display_name", values.get("display_name"))
            transport = values.get("transport")
            if transport is not None and (mailbox.transport or SMTP) != transport:
                changes["transport"] = [mailbox.transport or SMTP, transport]
                mailbox.transport = "" if transport == SMTP else str(transport)
            for fid in ("username", "host", "port", "security", "auth_method"):
                _set(changes, account, fid, fid, values.get(fid))
            _save_password(ctx, s, account, values, changes)
            address, server = mailbox.address, account.host
            saved = (mailbox.address, mailbox.display_name, mailbox.transport)
        if box is not mailbox:  # the caller's object shows what was saved
            box.address, box.display_name, box.transport = saved
        # after the transaction: an MX look-up must not hold the database
        detection = detect_provider(host, address, server)
        with host.transaction() as s:
            account = s.get(SmtpAccount, box.id)
            provider = detection.provider if detection else None
            if account is not None and account.provider != provider:
                account.provider = provider
        if changes:
            ctx.host.hook.call("smtp_settings_saved", ctx=ctx, values=dict(values),
                               changes=changes)
        return changes


def _set(changes: dict[str, Any], obj: object, attr: str, fid: str, value: Any) -> None:
    if value is None:
        return
    old = getattr(obj, attr)
    if old != value:
        setattr(obj, attr, value)
        changes[fid] = [old, value]


def _save_password(ctx: SectionContext, s: Session, account: SmtpAccount,
                   values: Mapping[str, Any], changes: dict[str, Any]) -> None:
    ref = secret_ref(account.mailbox_id)
    if values.get("clear_password"):
        if ctx.host.secrets.delete(OWNER, PASSWORD, ref, session=s):
            changes["password"] = "removed"
    elif values.get("password"):
        store_password(ctx.host, s, account.mailbox_id, str(values["password"]), binding(
            account.username, account.host, account.port, account.security))
        changes["password"] = "changed"


def _port(raw: Any, security: str | None, v: Validation) -> int | None:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return DEFAULT_PORTS.get(security or "tls")  # the suggested port of the type
    if isinstance(raw, bool):
        v.error("port", _("Enter a port number from 1 to 65535."), "invalid")
        return None
    if isinstance(raw, int):
        port = raw
    elif isinstance(raw, str) and raw.strip().isascii() and raw.strip().isdigit():
        if len(raw.strip()) > 6:
            v.error("port", _("The port must be between 1 and 65535."), "range")
            return None
        port = int(raw.strip())
    else:
        v.error("port", _("Enter a port number from 1 to 65535."), "invalid")
        return None
    if not 1 <= port <= 65535:
        v.error("port", _("The port must be between 1 and 65535."), "range")
        return None
    return port


def _mailbox(ctx: SectionContext) -> Mailbox:
    if ctx.mailbox is None:
        raise ValueError("the e-mail settings section needs a mailbox")
    return ctx.mailbox
