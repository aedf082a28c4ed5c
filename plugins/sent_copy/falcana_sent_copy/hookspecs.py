"""The hook the sent_copy plugin publishes for sign-in plugins (the OAuth plugin)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from falcana_core.api import hookspec

if TYPE_CHECKING:
    from falcana_core.api import Host, Mailbox
    from falcana_sent_copy.imap import ImapSession


@hookspec(firstresult=True, isolate=False)
def imap_login(host: Host, mailbox: Mailbox, session: ImapSession) -> str | None:
    """Log in on an open, encrypted IMAP session for the copy in Sent, when the mailbox
    signs in another way than with a password (OAuth2).

    First result; called only when the mailbox's e-mail sign-in is not ``"password"``.
    Return the SASL mechanism used (``session.xoauth2(account, token)`` does XOAUTH2), or
    ``None`` when the method is not yours. Run extra steps through ``session.step``
    ("imap.token"); exceptions are the step log's failures, so they are not isolated.
    Implement it with ``@hookimpl(optionalhook=True)``: the copy plugin may be absent.
    """
