"""Who may change what: the one place the web UI, the CLI and the Python API ask.

An actor is named by a string everywhere (the audit log's "who"). A name that is a user's
login acts with that user's rights; any other name ("cli", "api", "demo", "worker") is the
operator of this deployment, who holds the database and the key file anyway. If an admin
ever creates a user called "cli", that name loses rights rather than gains them.

The rules (docs/security.md has the full table):

* an admin may change every mailbox and every deployment setting;
* a user may change their own personal mailbox only while the deployment allows it
  (``users_edit_own``), and there only what the section does not mark ``admin_only``
  (a field, or a single choice such as domain-wide delegation);
* deployment-wide sections are admin-only.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from falcana_core.i18n import Domain
from falcana_core.models import MailboxKind

if TYPE_CHECKING:
    from falcana_core.models import Mailbox
    from falcana_core.users import Users

_ = Domain("core", Path(__file__).parent / "locale")


class Forbidden(PermissionError):
    """The actor may not do this; the message is safe to show (names no secret)."""


@dataclasses.dataclass(frozen=True)
class Actor:
    name: str
    is_admin: bool
    user_id: int | None = None  # None for the operator


def actor(users: Users, name: str) -> Actor:
    user = users.by_login(name) if name else None
    if user is None:
        return Actor(name, True)
    return Actor(user.login, user.is_admin and user.active, user.id)


def may_edit(who: Actor, mailbox: Mailbox | None, *,
             users_edit_own: Callable[[], bool]) -> bool:
    """May ``who`` change the settings of ``mailbox`` (None: the deployment's)?
    ``users_edit_own`` says whether the deployment lets users change their own; it is
    asked only for a user's own mailbox."""
    if who.is_admin:
        return True
    return (mailbox is not None and mailbox.kind == MailboxKind.PERSONAL.value
            and who.user_id is not None and mailbox.user_id == who.user_id
            and users_edit_own())


def require_edit(who: Actor, mailbox: Mailbox | None, *,
                 users_edit_own: Callable[[], bool]) -> None:
    if not may_edit(who, mailbox, users_edit_own=users_edit_own):
        raise Forbidden(str(_("{actor} may not change these settings.", actor=who.name)))
