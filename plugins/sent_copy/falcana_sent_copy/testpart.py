"""The test e-mail's second step log: the copy in Sent, so the admin sees at once that
IMAP is wrong even when SMTP works."""

from __future__ import annotations

import datetime as dt
import time
from typing import TYPE_CHECKING

from falcana_sent_copy.copier import file_copy, session_for
from falcana_sent_copy.i18n import _
from falcana_sent_copy.imap import StepFailed
from falcana_sent_copy.settings import imap_settings, provider_files_itself, row

if TYPE_CHECKING:
    from falcana_smtp_settings.api import TestPart

    from falcana_core.api import Host, Mailbox


def test_part(host: Host, mailbox: Mailbox, content: bytes, message_id: str) -> TestPart | None:
    from falcana_smtp_settings.api import TestPart

    title = _("Copy in Sent (IMAP)")
    settings = row(host, mailbox.id)
    if settings is None or settings.mode == "off" or not settings.host:
        return None
    if settings.mode == "auto" and provider_files_itself(host, mailbox):
        return TestPart(title, True, [], note=_(
            "Not filed by falcana: this provider puts mail sent over SMTP into Sent itself."))
    imap = imap_settings(host, mailbox)
    if imap is None:
        return None
    session = session_for(host, imap, time.monotonic() + host.config.test_deadline)
    try:
        file_copy(host, mailbox, session, content, message_id, dt.datetime.now(dt.UTC))
        session.close()
    except StepFailed as failed:
        return TestPart(title, False, session.steps, explanation=host.explain(failed.failure),
                        failed_step=failed.failure.step)
    return TestPart(title, True, session.steps, note=_("Filed in {folder}.",
                                                        folder=session.folder or "?"))
