"""Reading and writing a mailbox's SMTP settings; the runtime view the transport uses."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import TYPE_CHECKING

from falcana_core.api import Mailbox, SecretValue, utcnow
from falcana_smtp_settings.i18n import _
from falcana_smtp_settings.models import SmtpAccount

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from falcana_core.api import Host

OWNER = "smtp_settings"
PASSWORD = "smtp_password"
SECURITY_CHOICES = ("normal", "tls", "ssl")
DEFAULT_PORTS = {"ssl": 465, "tls": 587, "normal": 25}


def secret_ref(mailbox_id: int) -> str:
    return f"mailbox:{mailbox_id}"


@dataclasses.dataclass(frozen=True)
class SmtpSettings:
    """Everything needed to talk to the mailbox's server. ``password`` is masked in repr."""

    mailbox_id: int
    address: str
    sender_name: str
    username: str
    password: SecretValue | None
    host: str
    port: int
    security: str
    pin: str | None = None
    provider: str | None = None
    auth_method: str = "password"

    @property
    def configured(self) -> bool:
        return bool(self.address and self.host and self.port)


def server_of(host: str, port: int) -> str:
    return f"{host}:{port}"


def binding(username: str, host: str, port: int, security: str) -> dict[str, object]:
    """Where a stored password may go: it is encrypted together with this."""
    return {"username": username, "host": host, "port": int(port), "security": security}


def store_password(host: Host, s: Session, mailbox_id: int, password: str,
                   bound_to: dict[str, object]) -> None:
    host.secrets.put_bound(OWNER, PASSWORD, secret_ref(mailbox_id), password, bound_to,
                           session=s)


def stored_password(host: Host, mailbox_id: int, session: Session | None = None
                    ) -> tuple[SecretValue, dict[str, object] | None] | None:
    """The stored password and where it may go (None: saved before passwords were bound,
    bound to the settings it is first used with)."""
    return host.secrets.get_bound(OWNER, PASSWORD, secret_ref(mailbox_id), session=session)


def load_settings(host: Host, mailbox: Mailbox, *, with_password: bool = True) -> SmtpSettings:
    """The current settings; the sender name follows the user's current name when empty.

    The password comes only if it was saved for exactly this server, port, username and
    connection type: a changed server never receives it (docs/security.md).
    """
    with host.sessions() as s:
        box = s.get(Mailbox, mailbox.id) or mailbox
        account = s.get(SmtpAccount, mailbox.id)
        sender_name = box.sender_name
        address = box.address
        pin = None
        if account is not None and account.pin_sha256 and \
                account.pin_for == server_of(account.host, account.port):
            pin = account.pin_sha256
    password = None
    if with_password and account is not None:
        found = stored_password(host, mailbox.id)
        here = binding(account.username, account.host, account.port, account.security)
        if found is not None:
            password, bound = found
            if bound is None:  # a password from before binding: bind it to these settings
                with host.transaction() as s:
                    store_password(host, s, mailbox.id, password.reveal(), here)
            elif bound != here:
                password = None
    return SmtpSettings(
        mailbox_id=mailbox.id,
        address=address,
        sender_name=sender_name,
        username=account.username if account else "",
        password=password,
        host=account.host if account else "",
        port=account.port if account else DEFAULT_PORTS["tls"],
        security=account.security if account else "tls",
        pin=pin,
        auth_method=account.auth_method if account else "password",
        provider=account.provider if account else None,
    )


OFFER_VALID = dt.timedelta(hours=1)


def remember_offer(host: Host, mailbox_id: int, server: str, port: int, sha256: str) -> None:
    """The certificate this mailbox's server just presented: the one that may be pinned."""
    with host.transaction() as s:
        account = s.get(SmtpAccount, mailbox_id)
        if account is not None:
            account.offered_sha256, account.offered_for = sha256, server_of(server, port)
            account.offered_at = utcnow()


class PinRefused(Exception):
    """The pin was not set; the message says why in the user's language."""


def pin_offered(host: Host, mailbox: Mailbox, *, actor: str, sha256: str | None = None) -> str:
    """Pin the certificate the mailbox's last failed test saw (admins only).

    ``sha256``, when given, must be that very fingerprint: it confirms what the admin
    read, it never chooses another certificate. Returns "host:port".
    """
    if not host.actor(actor).is_admin:
        raise PinRefused(str(_("Only an admin may pin a certificate.")))
    with host.transaction() as s:
        account = s.get(SmtpAccount, mailbox.id)
        here = server_of(account.host, account.port) if account else ""
        at = account.offered_at if account else None
        if at is not None and at.tzinfo is None:
            at = at.replace(tzinfo=dt.UTC)
        if account is None or not account.offered_sha256 or account.offered_for != here \
                or at is None or utcnow() - at > OFFER_VALID:
            raise PinRefused(str(_("There is no certificate to pin: send the test e-mail "
                                   "first; its failed TLS step offers the certificate.")))
        if sha256 is not None and sha256 != account.offered_sha256:
            raise PinRefused(str(_("This is not the certificate the server presented in the "
                                   "last test ({sha}).", sha=account.offered_sha256)))
        account.pin_sha256, account.pin_for = account.offered_sha256, here
        account.offered_sha256 = account.offered_for = None
        account.offered_at = None
        pinned = account.pin_sha256
    host.audit.record(actor, "smtp.pin", "mailbox", str(mailbox.id),
                      {"server": here, "sha256": pinned})
    return here


def unpin(host: Host, mailbox: Mailbox, *, actor: str) -> None:
    if not host.actor(actor).is_admin:
        raise PinRefused(str(_("Only an admin may pin a certificate.")))
    with host.transaction() as s:
        account = s.get(SmtpAccount, mailbox.id)
        if account is not None:
            account.pin_sha256 = account.pin_for = None
    host.audit.record(actor, "smtp.unpin", "mailbox", str(mailbox.id), {})


def mailboxes_by_sign_in(host: Host, auth_method: str) -> list[Mailbox]:
    """The mailboxes that send by SMTP and sign in with ``auth_method``, by address: what a
    bulk change of sign-in (``falcana mail migrate``) picks from."""
    from sqlalchemy import select

    with host.sessions() as s:
        return list(s.scalars(select(Mailbox).join(
            SmtpAccount, SmtpAccount.mailbox_id == Mailbox.id).where(
            SmtpAccount.auth_method == auth_method, SmtpAccount.host != "",
            Mailbox.transport.in_(("", "smtp"))).order_by(Mailbox.address, Mailbox.id)))
