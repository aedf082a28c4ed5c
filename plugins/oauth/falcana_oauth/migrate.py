"""Moving a fleet of mailboxes off their passwords at once (``falcana mail migrate m365``).

Microsoft switches password sign-in for SMTP off by default at the end of December 2026;
Google app passwords die with every change of the account password. An admin with an
app-only client (Microsoft: SMTP.SendAsApp) or domain-wide delegation (Google Workspace)
can move every mailbox without asking one user:

1. ``--dry-run``: each mailbox that sends to the provider with a password signs in the
   new way (a token for it, then SMTP up to RCPT TO: nothing is sent), while its stored
   settings stay as they are (``OAuth.trial``);
2. the switch: the same dry run, then only the mailboxes that passed change their
   sign-in; the settings they had are kept (table ``oauth_migrations``);
3. ``--rollback``: those mailboxes get exactly their previous settings back (the password
   never left the secret store) and the new sign-in is forgotten.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from falcana_smtp_settings.api import (
    SECTION_ID,
    load_settings,
    mailboxes_by_sign_in,
    run_test,
    stored_provider,
)
from sqlalchemy import select

from falcana_core.api import current_language, text_in, utcnow
from falcana_oauth.actions import METHODS
from falcana_oauth.i18n import _
from falcana_oauth.models import OAuthMigration
from falcana_oauth.service import APP, DELEGATION, OAuthProvider, oauth

if TYPE_CHECKING:
    from falcana_core.api import Host, Mailbox

log = logging.getLogger(__name__)
METHOD_OF = {mode: method for method, mode in METHODS.items()}


class NoClient(LookupError):
    """No OAuth client for that name offers a sign-in without the user; says why."""


@dataclasses.dataclass
class Moved:
    """What the migration found, tried and did for one mailbox."""

    mailbox_id: int
    address: str
    provider: str | None  # as recognised ("m365", "google_workspace")
    to: str | None  # the sign-in it moves to ("oauth2_app"); None: it cannot
    passed: bool | None = None  # the dry run; None: not tried
    failure: dict[str, Any] | None = None  # the failed step and its explanation
    switched: bool = False
    restored: bool = False
    days_left: int | None = None  # until a notice of the mailbox falls due (switch-off)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def client_for(host: Host, name: str) -> tuple[OAuthProvider, str]:
    """The OAuth client a migration uses, by its id ("microsoft") or a provider it serves
    ("m365", "gmail"), with the sign-in it moves mailboxes to (app-only, delegation)."""
    for provider in oauth(host).providers().values():
        if name != provider.id and name not in provider.serves:
            continue
        mode = next((m for m in (APP, DELEGATION) if m in provider.modes), None)
        if mode is None:
            raise NoClient(str(_(
                "The {name} OAuth2 client offers no sign-in without the user: enter its "
                "client secret (Microsoft app-only) or service account key (Google "
                "domain-wide delegation) under System settings.", name=provider.name)))
        return provider, mode
    raise NoClient(str(_("No OAuth2 client is set up for {name}.", name=name)))


class Migration:
    """One run of ``falcana mail migrate NAME``."""

    def __init__(self, host: Host, name: str, *, actor: str = "cli") -> None:
        self.host = host
        self.actor = actor
        self.provider, self.mode = client_for(host, name)
        self.method = METHOD_OF[self.mode]

    def candidates(self, only: Sequence[int] = ()) -> list[Moved]:
        """Every mailbox that sends to this client's provider with a password."""
        able = set(self.provider.admin_serves or self.provider.serves)
        found = []
        for box in mailboxes_by_sign_in(self.host, "password"):
            if only and box.id not in only:
                continue
            detected = stored_provider(self.host, box)
            if detected not in self.provider.serves:
                continue
            found.append(Moved(box.id, box.address, detected,
                               self.method if detected in able else None,
                               days_left=self._days_left(box)))
        return found

    def _days_left(self, box: Mailbox) -> int | None:
        today = utcnow().date()
        left = [n.days_left(today) for n in self.host.health.notices(box, today)
                if n.due is not None]
        return min((d for d in left if d is not None), default=None)

    def dry_run(self, moved: Moved) -> Moved:
        """Sign in the new way, send nothing, change nothing."""
        box = self.host.mailboxes.get(moved.mailbox_id)
        if box is None or moved.to is None:
            return moved
        settings = dataclasses.replace(load_settings(self.host, box, with_password=False),
                                       auth_method=moved.to, password=None)
        with oauth(self.host).trial(box, self.provider, self.mode):
            result = run_test(self.host, settings, verify_only=True)
        moved.passed = result.ok
        if not result.ok:
            moved.failure = {"step": result.failed_step, "explanation":
                             result.explanation.as_dict(current_language())
                             if result.explanation else None}
        return moved

    def switch(self, moved: Moved) -> Moved:
        """Change the sign-in of a mailbox whose dry run passed; keep what it was."""
        box = self.host.mailboxes.get(moved.mailbox_id)
        if box is None or not moved.passed or moved.to is None:
            return moved
        previous = {k: v for k, v in self.host.section_values(box, SECTION_ID).items()
                    if k != "password"}
        saved = self.host.save_section(box, SECTION_ID, {
            **previous, "password": None, "auth_method": moved.to}, actor=self.actor)
        if not saved.saved:
            moved.failure = {"step": "save", "explanation": {"cause": "; ".join(
                text_in(m.text, current_language()) for m in saved.validation.errors)}}
            return moved
        with self.host.transaction() as s:
            row = s.get(OAuthMigration, box.id) or OAuthMigration(mailbox_id=box.id)
            row.provider, row.auth_method, row.previous = self.provider.id, moved.to, previous
            row.switched_at, row.switched_by = utcnow(), self.actor
            s.add(row)
        self.host.audit.record(self.actor, "oauth.migrate", "mailbox", str(box.id),
                               {"provider": self.provider.id, "to": moved.to})
        moved.switched = True
        return moved

    def migrated(self) -> list[Moved]:
        """The mailboxes this client's migration switched (what a rollback restores)."""
        with self.host.sessions() as s:
            rows = list(s.scalars(select(OAuthMigration).where(
                OAuthMigration.provider == self.provider.id)
                .order_by(OAuthMigration.mailbox_id)))
        found = []
        for row in rows:
            box = self.host.mailboxes.get(row.mailbox_id)
            if box is not None:
                found.append(Moved(box.id, box.address, stored_provider(self.host, box),
                                   row.auth_method, switched=True))
        return found

    def rollback(self, moved: Moved) -> Moved:
        """The previous settings back, exactly; the new sign-in forgotten."""
        box = self.host.mailboxes.get(moved.mailbox_id)
        with self.host.sessions() as s:
            row = s.get(OAuthMigration, moved.mailbox_id)
            previous = dict(row.previous) if row is not None else None
        if box is None or previous is None:
            return moved
        saved = self.host.save_section(box, SECTION_ID, {**previous, "password": None},
                                       actor=self.actor)
        if not saved.saved:
            moved.failure = {"step": "save", "explanation": {"cause": "; ".join(
                text_in(m.text, current_language()) for m in saved.validation.errors)}}
            return moved
        oauth(self.host).disconnect(box, actor=self.actor)
        with self.host.transaction() as s:
            found = s.get(OAuthMigration, box.id)
            if found is not None:
                s.delete(found)
        self.host.audit.record(self.actor, "oauth.migrate.rollback", "mailbox", str(box.id),
                               {"provider": self.provider.id})
        moved.restored = True
        return moved
