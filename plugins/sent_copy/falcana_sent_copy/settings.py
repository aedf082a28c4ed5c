"""A mailbox's copy settings: reading them, and whether a copy is wanted at all."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from falcana_smtp_settings.api import binding, detect_provider

from falcana_core.api import Mailbox, SecretValue
from falcana_sent_copy.imap import ImapSettings
from falcana_sent_copy.models import SentCopySettings

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from falcana_core.api import Host

OWNER = "sent_copy"
PASSWORD = "imap_password"
MODES = ("auto", "on", "off")
SECURITY = ("ssl", "tls", "normal")
DEFAULT_PORTS = {"ssl": 993, "tls": 143, "normal": 143}


def ref(mailbox_id: int) -> str:
    return f"mailbox:{mailbox_id}"


def store_password(host: Host, s: Session, mailbox_id: int, password: str,
                   bound_to: dict[str, object]) -> None:
    """An IMAP password of its own, encrypted together with where it may go."""
    host.secrets.put_bound(OWNER, PASSWORD, ref(mailbox_id), password, bound_to, session=s)


def own_password(host: Host, mailbox_id: int
                 ) -> tuple[SecretValue, dict[str, object] | None] | None:
    return host.secrets.get_bound(OWNER, PASSWORD, ref(mailbox_id))


def row(host: Host, mailbox_id: int) -> SentCopySettings | None:
    with host.sessions() as s:
        found = s.get(SentCopySettings, mailbox_id)
        if found is not None:
            s.expunge(found)
        return found


def provider_files_itself(host: Host, mailbox: Mailbox) -> bool:
    """Microsoft 365 and Gmail put SMTP-submitted mail in Sent themselves: their plugins
    say so on the detection (``Detection.files_sent``)."""
    from falcana_smtp_settings.api import load_settings

    smtp = load_settings(host, mailbox, with_password=False)
    found = detect_provider(host, smtp.address, smtp.host)
    return bool(found is not None and found.files_sent)


def wanted(host: Host, mailbox: Mailbox) -> bool:
    if mailbox.transport not in ("", "smtp"):
        return False  # a mail API (Graph's sendMail, the Gmail API) files in Sent itself
    settings = row(host, mailbox.id)
    if settings is None or settings.mode == "off" or not settings.host:
        return False
    return settings.mode == "on" or not provider_files_itself(host, mailbox)


def allowed_for(settings: SentCopySettings) -> str:
    """The IMAP server, port, username and connection type as saved ("" = the e-mail
    username): what a permission to send the e-mail password there is bound to."""
    return json.dumps(binding(settings.username, settings.host, settings.port,
                              settings.security), sort_keys=True)


def smtp_password_allowed(settings: SentCopySettings) -> bool:
    """An admin allowed the e-mail password to go to exactly this IMAP server."""
    return bool(settings.host) and settings.smtp_password_for == allowed_for(settings)


def imap_settings(host: Host, mailbox: Mailbox) -> ImapSettings | None:
    """The settings to connect with. The password is the IMAP one, where it was saved for;
    else the e-mail (SMTP) password, only where an admin allowed it to go (a stored secret
    goes only where it was saved for: a second host is an explicit permission); else none,
    and the login step says what to do."""
    from falcana_smtp_settings.api import load_settings

    settings = row(host, mailbox.id)
    if settings is None or not settings.host:
        return None
    smtp = load_settings(host, mailbox)
    username = settings.username or smtp.username or smtp.address
    password = smtp.password if smtp_password_allowed(settings) else None
    own = own_password(host, mailbox.id)
    if own is not None:
        secret, bound = own
        # bound to the fields as saved ("" = the e-mail username), like the section does
        password = secret if bound == binding(settings.username, settings.host, settings.port,
                                              settings.security) else None
    return ImapSettings(mailbox.id, settings.host, settings.port, settings.security, username,
                        password, settings.folder, smtp.address, smtp.auth_method)


def remember_folder(host: Host, mailbox_id: int, folder: str) -> None:
    with host.transaction() as s:
        settings = s.get(SentCopySettings, mailbox_id)
        if settings is not None and settings.folder != folder:
            settings.folder = folder
