"""What the OAuth plugin knows ahead about a mailbox's sign-in: a client secret that runs
out, and a refresh token the provider ends after a time without use.

Both stop every send of the mailbox on a day that can be known: the admin entered the
secret's expiry; the provider's idle limit counts from the token's last use. A worker's
daily verify uses the token (a refresh), so the idle notice only comes where verifies are
off or keep failing for another reason.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from falcana_core.api import Notice
from falcana_oauth.i18n import _
from falcana_oauth.service import DELEGATED, oauth

if TYPE_CHECKING:
    from falcana_core.api import Host, Mailbox

SECRET_WARN_DAYS = 14
IDLE_WARN_DAYS = 10  # Microsoft: a warning once the token was unused for 80 of 90 days


def notices(host: Host, mailbox: Mailbox) -> list[Notice]:
    service = oauth(host)
    row = service.connection(mailbox.id)
    if row is None or row.status != "connected":
        return []  # signed out, or "Anmeldung erneuern": the health state says it
    provider = service.providers().get(row.provider)
    if provider is None:
        return []
    found = []
    if provider.secret_expires is not None and provider.client_secret is not None:
        found.append(Notice(
            "oauth.client_secret_expires",
            _("The client secret of the {name} OAuth2 client expires on {day}: then no "
              "mailbox signing in through it can send.", name=provider.name,
              day=provider.secret_expires.isoformat()),
            _("An admin creates a new client secret in the app registration and enters it, "
              "with its expiry date, under System settings."),
            due=provider.secret_expires, warn_days=SECRET_WARN_DAYS, field="client_secret",
            order=20))
    if provider.refresh_idle_days and row.mode == DELEGATED:
        last = row.refreshed_at or row.connected_at
        due = (last + dt.timedelta(days=provider.refresh_idle_days)).date()
        found.append(Notice(
            "oauth.refresh_idle",
            _("The sign-in with {name} was last used on {day}; {name} ends a sign-in after "
              "{days} days without use.", name=provider.name, day=last.date().isoformat(),
              days=provider.refresh_idle_days),
            _("Send a test mail from this mailbox (that renews the sign-in), or sign in "
              "again."),
            due=due, warn_days=IDLE_WARN_DAYS, action=f"oauth.{provider.id}.sign_in",
            order=30))
    return found
