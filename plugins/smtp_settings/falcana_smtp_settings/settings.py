"""Reading and writing a mailbox's SMTP settings; the runtime view the transport uses."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING

from sqlalchemy import delete, select

from falcana_core.api import Mailbox, SecretValue, Text
from falcana_smtp_settings.models import CertificatePin, SmtpAccount

if TYPE_CHECKING:
    from falcana_core.api import Host

OWNER = "smtp_settings"
PASSWORD = "smtp_password"
SECURITY_CHOICES = ("normal", "tls", "ssl")
DEFAULT_PORTS = {"ssl": 465, "tls": 587, "normal": 25}


@dataclasses.dataclass(frozen=True)
class Preset:
    """Server settings a provider prescribes, offered as one button ("Use: ...")."""

    label: Text
    host: str
    port: int
    security: str  # "normal" | "tls" | "ssl"

    @property
    def values(self) -> Mapping[str, object]:
        """What the button fills into this plugin's form, by field id."""
        return {"host": self.host, "port": self.port, "security": self.security}


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


def load_settings(host: Host, mailbox: Mailbox, *, with_password: bool = True) -> SmtpSettings:
    """The current settings; the sender name follows the user's current name when empty."""
    with host.sessions() as s:
        box = s.get(Mailbox, mailbox.id) or mailbox
        account = s.get(SmtpAccount, mailbox.id)
        sender_name = box.sender_name
        address = box.address
        pin = None
        if account is not None and account.host:
            pin = s.scalar(select(CertificatePin.sha256).where(
                CertificatePin.host == account.host, CertificatePin.port == account.port))
    password = host.secrets.get(OWNER, PASSWORD, secret_ref(mailbox.id)) if with_password \
        else None
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
    )


def set_pin(host: Host, server: str, port: int, sha256: str | None, *, actor: str) -> None:
    """Pin (or with ``None`` unpin) the certificate of one server's host and port."""
    with host.transaction() as s:
        s.execute(delete(CertificatePin).where(CertificatePin.host == server,
                                               CertificatePin.port == port))
        if sha256:
            s.add(CertificatePin(host=server, port=port, sha256=sha256, created_by=actor))
    host.audit.record(actor, "smtp.pin" if sha256 else "smtp.unpin", "certificate",
                      f"{server}:{port}", {"sha256": sha256} if sha256 else {})
