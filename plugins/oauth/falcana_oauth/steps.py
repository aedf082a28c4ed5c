"""The steps of sending through a mail API (Microsoft Graph, the Gmail API): a token,
then one HTTPS request and its response."""

from __future__ import annotations

from falcana_core.api import Text
from falcana_oauth.i18n import _

STEP_LABELS: dict[str, Text] = {"request": _("Request (HTTPS)"), "response": _("Response")}
