"""Filing a sent message in the mailbox's Sent folder: for the outbox (a step after
delivery, hook ``after_delivery``) and for the test e-mail (its own step log)."""

from __future__ import annotations

import datetime as dt
import time
from typing import TYPE_CHECKING

from falcana_core.api import DeliveryError
from falcana_sent_copy.imap import ImapSession, ImapSettings, StepFailed
from falcana_sent_copy.settings import imap_settings, remember_folder, wanted

if TYPE_CHECKING:
    from falcana_core.api import Host, Mailbox


def session_for(host: Host, settings: ImapSettings, deadline: float) -> ImapSession:
    def login(session: ImapSession) -> str | None:
        box = host.mailboxes.get(settings.mailbox_id)
        used: str | None = host.hook.call("imap_login", host=host, mailbox=box,
                                          session=session)
        return used

    return ImapSession(settings, policy=host.config.net_policy,
                       ca_bundle=host.config.ca_bundle, timeout=host.config.net_timeout,
                       deadline=deadline, login_hook=login)


def file_copy(host: Host, mailbox: Mailbox, session: ImapSession, content: bytes,
              message_id: str, sent_at: dt.datetime, *, look_first: bool = True) -> None:
    """Connect and log in (unless the session is open), find the folder, skip if an
    earlier attempt filed it, APPEND with \\Seen and the send time. Raises ``StepFailed``
    (and closes the session); the session keeps the steps."""
    if session.imap is None:
        session.open()
        folder = session.find_folder()
        if folder != session.settings.folder:
            remember_folder(host, mailbox.id, folder)
    if look_first and message_id and session.already_filed(message_id):
        return
    session.append(content, sent_at.timestamp())


class ImapCopier:
    """What the outbox asks to file a copy after the SMTP server accepted the message."""

    duty = "sent_copy"
    max_attempts = 8  # then given up: the mail itself went out

    def __init__(self, host: Host, mailbox: Mailbox, settings: ImapSettings) -> None:
        self.host = host
        self.mailbox = mailbox
        self.settings = settings
        self.session: ImapSession | None = None  # kept open across a batch of copies

    def run(self, content: bytes, message_id: str, sent_at: dt.datetime, *,
            look_first: bool) -> None:
        if self.session is None:
            self.session = session_for(self.host, self.settings, 0.0)
        session = self.session
        session.deadline = time.monotonic() + self.host.config.send_deadline
        session.steps.clear()
        try:
            file_copy(self.host, self.mailbox, session, content, message_id, sent_at,
                      look_first=look_first)
        except StepFailed as failed:
            self.session = None  # closed by the failed step: the next copy reconnects
            raise DeliveryError(failed.failure, self.host.explain(failed.failure),
                                session.steps) from None

    def close(self) -> None:
        if self.session is not None:
            self.session.close()
            self.session = None


def copier_for(host: Host, mailbox: Mailbox) -> ImapCopier | None:
    if not wanted(host, mailbox):
        return None
    settings = imap_settings(host, mailbox)
    return ImapCopier(host, mailbox, settings) if settings is not None else None
