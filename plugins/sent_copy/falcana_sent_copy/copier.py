"""Filing a sent message in the mailbox's Sent folder: for the outbox (a step after
delivery, hook ``after_delivery``) and for the test e-mail (its own step log)."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from falcana_core.api.transport import Delivered, DeliveryError
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


def open_folder(host: Host, mailbox: Mailbox, session: ImapSession) -> None:
    """Connect, log in and find the Sent folder (remembered for the next time)."""
    session.open()
    folder = session.find_folder()
    if folder != session.settings.folder:
        remember_folder(host, mailbox.id, folder)


def file_copy(host: Host, mailbox: Mailbox, session: ImapSession, content: bytes,
              message_id: str, sent_at: dt.datetime, *, look_first: bool = True) -> None:
    """One copy (the test e-mail's): connect and log in unless the session is open, find
    the folder, skip if an earlier attempt filed it, APPEND with \\Seen and the send time.
    Raises ``StepFailed`` (and closes the session); the session keeps the steps."""
    if session.imap is None:
        open_folder(host, mailbox, session)
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

    def run(self, messages: Sequence[Delivered]) -> list[DeliveryError | None]:
        """File a batch over the kept connection: log in and find the folder once, look
        for the ones an earlier attempt may have filed, then APPEND the rest, many at a
        time where the server offers MULTIAPPEND."""
        if self.session is None:
            self.session = session_for(self.host, self.settings, 0.0)
        session = self.session
        session.deadline = time.monotonic() + self.host.config.send_deadline
        session.steps.clear()
        results: list[DeliveryError | None] = [None] * len(messages)
        pending = list(range(len(messages)))  # not known to be filed yet
        try:
            if session.imap is None:
                open_folder(self.host, self.mailbox, session)
            pending = [i for i in pending if not (
                messages[i].look_first and messages[i].message_id
                and session.already_filed(messages[i].message_id))]
            for count in session.batches([len(messages[i].content) for i in pending]):
                session.append_many([(messages[i].content, messages[i].sent_at.timestamp())
                                     for i in pending[:count]])
                pending = pending[count:]
        except StepFailed as failed:
            self.session = None  # closed by the failed step: the next copy reconnects
            error = DeliveryError(failed.failure, self.host.explain(failed.failure),
                                  session.steps)
            for i in pending:  # those filed before the failure stay done
                results[i] = error
        return results

    def close(self) -> None:
        if self.session is not None:
            self.session.close()
            self.session = None


def copier_for(host: Host, mailbox: Mailbox) -> ImapCopier | None:
    if not wanted(host, mailbox):
        return None
    settings = imap_settings(host, mailbox)
    return ImapCopier(host, mailbox, settings) if settings is not None else None
