"""The steps of filing a copy by IMAP (``imap.login`` ...), with their names for people."""

from __future__ import annotations

from falcana_core.api import Text
from falcana_sent_copy.i18n import _

STEP_LABELS: dict[str, Text] = {
    "login": _("Login"), "folder": _("Folder"), "search": _("Already filed?"),
    "append": _("Filing (APPEND)"),
}
