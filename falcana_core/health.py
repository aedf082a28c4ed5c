"""Mailbox health: whether each mailbox can still send, known before a mail needs it.

This module says what the health of a mailbox is (its states, the plugins' notices, a
report); ``falcana_core.mailbox_health`` keeps it.

Credentials break silently (a password changed, consent revoked, a sign-in method switched
off by the provider, a client secret run out); the mail that fails is the first to know.
So the worker verifies every tracked mailbox on a cadence (``FALCANA_HEALTH_EVERY``,
daily by default; a minute after its settings change; hourly while broken), with a sign-in
that sends nothing: the mailbox's transport opens a connection and closes it. Plugins add
what they know ahead (hook ``mailbox_notices``). A mailbox is

* ``ok``: the last verify (or a send) passed and no notice is due;
* ``warning``: it passed, but a notice falls due within its warning window;
* ``broken``: the last verify or send failed for a reason of the whole mailbox that needs
  a change (sign-in, consent, sending switched off): its queue is paused, and a passing
  verify resumes it;
* ``unknown``: not verified yet.

A change of state is told to the hook ``mailbox_health_changed``. A mailbox is tracked
once its settings were saved (or it sent through the outbox before this existed).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

from falcana_core.delivery import Retry, Scope
from falcana_core.i18n import Text, text_in
from falcana_core.models import utcnow
from falcana_core.outbox import as_utc

if TYPE_CHECKING:
    from falcana_core.models import Mailbox
    from falcana_core.transports import DeliveryError


class HealthState(enum.StrEnum):
    OK = "ok"
    WARNING = "warning"
    BROKEN = "broken"
    UNKNOWN = "unknown"


#: the exit code of ``falcana mailboxes health`` for the worst state found (monitoring)
EXIT_CODES = {HealthState.OK: 0, HealthState.WARNING: 1, HealthState.UNKNOWN: 1,
              HealthState.BROKEN: 2}
_WORST = (HealthState.BROKEN, HealthState.WARNING, HealthState.UNKNOWN, HealthState.OK)


@dataclasses.dataclass(frozen=True)
class Notice:
    """Something a plugin knows ahead that will stop a mailbox sending, with the one thing
    that prevents it (hook ``mailbox_notices``).

    ``due`` is the day it stops working (None: at risk now); from ``warn_days`` before it
    the mailbox shows as ``warning``. ``field`` names the setting to change, ``action``
    the id of the button that fixes it (a new sign-in), where there is one."""

    id: str  # stable: "m365.basic_auth_off"
    cause: Text
    fix: Text
    due: dt.date | None = None
    warn_days: int = 14
    field: str | None = None
    action: str | None = None
    order: int = 100
    #: a command that fixes it for every mailbox at once, shown once per notice in the
    #: admins' health view ("falcana mail migrate m365 --dry-run")
    bulk: str | None = None

    def warns(self, today: dt.date) -> bool:
        return self.due is None or (self.due - today).days <= self.warn_days

    def days_left(self, today: dt.date) -> int | None:
        return None if self.due is None else (self.due - today).days

    def as_dict(self, lang: str, today: dt.date) -> dict[str, Any]:
        return {"id": self.id, "cause": text_in(self.cause, lang),
                "fix": text_in(self.fix, lang), "field": self.field, "action": self.action,
                "bulk": self.bulk,
                "due": self.due.isoformat() if self.due else None,
                "days_left": self.days_left(today), "warns": self.warns(today)}


@dataclasses.dataclass(frozen=True)
class HealthReport:
    """One mailbox's health as people and monitoring see it: the stored verify result,
    with the notices as they are today."""

    mailbox_id: int
    address: str
    state: HealthState
    #: broken: the failed step and its explanation; else the last verify's failure that
    #: did not concern the mailbox (``"passing": True``, a server out of reach)
    reason: dict[str, Any] | None
    notices: Sequence[Notice]
    checked_at: dt.datetime | None
    changed_at: dt.datetime | None
    next_check_at: dt.datetime | None
    today: dt.date = dataclasses.field(default_factory=lambda: utcnow().date())

    def as_dict(self, lang: str, today: dt.date | None = None) -> dict[str, Any]:
        today = today or self.today
        return {"mailbox_id": self.mailbox_id, "address": self.address,
                "state": self.state.value, "reason": self.reason,
                "notices": [n.as_dict(lang, today) for n in self.notices],
                "checked_at": _stamp(self.checked_at), "changed_at": _stamp(self.changed_at),
                "next_check_at": _stamp(self.next_check_at)}


def _stamp(when: dt.datetime | None) -> str | None:
    return as_utc(when).isoformat() if when else None


def worst(states: Sequence[HealthState]) -> HealthState:
    """The state a monitor reports for many mailboxes (none: ok)."""
    return next((s for s in _WORST if s in states), HealthState.OK)


def needs_a_fix(error: DeliveryError) -> bool:
    """A failure that makes the mailbox broken: it concerns every message of the mailbox
    and waiting does not help (a quota or a lock that runs out is no breakage)."""
    explanation = error.explanation
    return (explanation is not None and explanation.scope is Scope.MAILBOX
            and explanation.retry is not Retry.LATER and not explanation.retry_after_seconds)


class HealthView(Protocol):
    """What a plugin may ask of the host's mailbox health (``host.health``)."""

    def notices(self, mailbox: Mailbox, today: dt.date | None = None) -> list[Notice]:
        """The plugins' notices for a mailbox that warn today."""
        ...

    def report(self, mailbox: Mailbox, *, today: dt.date | None = None) -> HealthReport: ...
