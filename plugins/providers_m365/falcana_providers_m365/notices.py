"""What Microsoft 365 knows ahead about a mailbox: the end of password sign-in for SMTP.

At the end of December 2026 Microsoft switches basic authentication for SMTP AUTH off by
default in existing tenants (Exchange team blog, 2026-01-27). A mailbox that still signs in
with a password (an app password included) stops sending then unless its tenant's admin
switches it back on, which lasts until the final removal (announced for the second half
of 2027). The notice comes two months ahead: moving a fleet to OAuth2 takes that long.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from falcana_smtp_settings.api import load_settings, stored_provider

from falcana_core.api import Notice
from falcana_providers_m365.detect import M365
from falcana_providers_m365.i18n import _

if TYPE_CHECKING:
    from falcana_core.api import Host, Mailbox

BASIC_AUTH_OFF = dt.date(2026, 12, 31)
WARN_DAYS = 60

BASIC_AUTH_NOTICE = Notice(
    "m365.basic_auth_off",
    _("Microsoft switches off password sign-in (basic authentication) for SMTP by default "
      "at the end of December 2026, and this mailbox still signs in with a password. Its "
      "tenant's admin can switch it back on, until Microsoft removes it for good (the date "
      "is announced for the second half of 2027)."),
    _("Choose \"Sign-in: OAuth2\" and sign in with Microsoft, or \"Send through: Microsoft "
      "Graph\"; an admin can move every mailbox at once with app-only access (falcana "
      "mail migrate m365)."),
    due=BASIC_AUTH_OFF, warn_days=WARN_DAYS, field="auth_method", order=10,
    bulk="falcana mail migrate m365 --dry-run")


def notices(host: Host, mailbox: Mailbox) -> list[Notice]:
    """The switch-off notice for a Microsoft 365 mailbox sending by SMTP with a password."""
    if mailbox.transport not in ("", "smtp"):
        return []
    settings = load_settings(host, mailbox, with_password=False)
    if not settings.configured or settings.auth_method != "password":
        return []
    provider = settings.provider or stored_provider(host, mailbox)
    return [BASIC_AUTH_NOTICE] if provider == M365 else []
