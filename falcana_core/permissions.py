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
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from falcana_core.i18n import Domain
from falcana_core.sections import Field, FieldType, Validation

if TYPE_CHECKING:
    from falcana_core.host import Host
    from falcana_core.models import Mailbox

_ = Domain("core", Path(__file__).parent / "locale")


class Forbidden(PermissionError):
    """The actor may not do this; the message is safe to show (names no secret)."""


@dataclasses.dataclass(frozen=True)
class Actor:
    name: str
    is_admin: bool
    user_id: int | None = None  # None for the operator


def actor(host: Host, name: str) -> Actor:
    user = host.users.by_login(name) if name else None
    if user is None:
        return Actor(name, True)
    return Actor(user.login, user.is_admin and user.active, user.id)


def may_edit(host: Host, who: Actor, mailbox: Mailbox | None) -> bool:
    """May ``who`` change the settings of ``mailbox`` (None: the deployment's)?"""
    from falcana_core.general import users_may_edit_own
    from falcana_core.models import MailboxKind

    if who.is_admin:
        return True
    return (mailbox is not None and mailbox.kind == MailboxKind.PERSONAL.value
            and who.user_id is not None and mailbox.user_id == who.user_id
            and users_may_edit_own(host))


def require_edit(host: Host, who: Actor, mailbox: Mailbox | None) -> None:
    if not may_edit(host, who, mailbox):
        raise Forbidden(str(_("{actor} may not change these settings.", actor=who.name)))


def check_admin_only(fields: Sequence[Field], current: Mapping[str, Any],
                     wanted: Mapping[str, Any]) -> Validation:
    """Errors for every admin-only field (or admin-only choice) a non-admin would change.

    ``current`` is what is stored, ``wanted`` the normalised values of this save; a value
    left as it is passes, so a user may save a form that shows an admin's choice.
    """
    v = Validation()
    for field in fields:
        if field.id not in wanted or field.write_only:
            continue
        old, new = current.get(field.id), wanted[field.id]
        if _same(old, new):
            continue
        if field.admin_only:
            v.error(field.id, _("Only an admin may change this."), "admin_only")
        elif field.type is FieldType.CHOICE and any(
                c.value == new and c.admin_only for c in field.choices):
            v.error(field.id, _("Only an admin may choose this."), "admin_only")
    return v


def _same(old: Any, new: Any) -> bool:
    """Equal as stored, case included: ``ANNA@firma.de`` is another address to the
    receiving server, so a user may not switch to it (only "" and None are the same)."""
    if old is None or new is None:
        return old == new or (old in (None, "") and new in (None, ""))
    return str(old).strip() == str(new).strip()
