"""The steps of filing a copy by IMAP (``imap.login`` ...), and the states of the copy as
a step after delivery (``sent_copy.done`` ...), with their names for people."""

from __future__ import annotations

from falcana_core.api import Text
from falcana_sent_copy.i18n import _

STEP_LABELS: dict[str, Text] = {
    "login": _("Login"), "folder": _("Folder"), "search": _("Already filed?"),
    "append": _("Filing (APPEND)"),
    "sent_copy.pending": _("copy in Sent pending"), "sent_copy.done": _("filed in Sent"),
    "sent_copy.failed": _("filing in Sent failed"),
}
