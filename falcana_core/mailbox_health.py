"""Keeping each mailbox's health (``falcana_core.health`` says what it is): the cadence of
verifies, the verify as a duty of the worker, and what sending found, recorded."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import random
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol

from sqlalchemy import func, or_, select, update

from falcana_core.bulk import insert_if_missing
from falcana_core.health import HealthReport, HealthState, Notice, needs_a_fix
from falcana_core.models import (
    Mailbox,
    MailboxHealth,
    MailboxQueue,
    OutboxMessage,
    OutboxStatus,
    User,
    utcnow,
)
from falcana_core.outbox import OutboxPolicy, error_record, lock_queue
from falcana_core.sections import PluginHost
from falcana_core.transports import DeliveryError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from falcana_core.plugins import Hooks

log = logging.getLogger(__name__)

AFTER_CHANGE = 60.0  # seconds from a change of settings to its verify (typing goes on)
JITTER = 0.1  # each mailbox's next verify moves by up to this share of the cadence


class HealthHost(PluginHost, Protocol):
    """The host as its health service sees it: a plugin's view, with the typed hooks and
    the service itself."""

    @property
    def hook(self) -> Hooks: ...
    @property
    def health(self) -> Health: ...


class Verifies:
    """The verifies as the worker's duty (``falcana_core.duties``), like a plugin's: the
    due ones of mailboxes with no mail waiting or being sent (sending proves as much; a
    paused mailbox's mail waits for the verify), each claimed by one worker and run in a
    slot of its own."""

    name = "health.verify"

    def __init__(self, host: HealthHost) -> None:
        self.host = host

    def due(self, now: dt.datetime, limit: int) -> Sequence[int]:
        found = self.host.health.due(now, limit)
        if not found:
            return []
        t = OutboxMessage
        paused = select(MailboxQueue.mailbox_id).where(MailboxQueue.paused_until > now)
        with self.host.engine.connect() as conn:
            sending = set(conn.scalars(select(t.mailbox_id).where(
                t.mailbox_id.in_(found), t.mailbox_id.not_in(paused),
                t.status.in_(VERIFY_WAITS_FOR),
                or_(t.next_attempt_at <= now, t.status == OutboxStatus.SENDING.value))
                .distinct()))
        return [m for m in found if m not in sending]

    def claim(self, mailbox_id: int, now: dt.datetime, lease: float) -> bool:
        return self.host.health.claim(mailbox_id, now, lease)

    def run(self, mailbox: Mailbox, now: dt.datetime, cancelled: Callable[[], bool]) -> int:
        try:
            self.host.health.verify(mailbox, now=now, cancelled=cancelled)
        except Exception:  # its transport's plugin is gone, say: not again every lease
            log.exception("mailbox %s: the verify could not run", mailbox.id)
            self.host.health.postpone(mailbox.id, now)
        return 1


#: a mailbox with messages in these states is verified by sending them
VERIFY_WAITS_FOR = (OutboxStatus.QUEUED.value, OutboxStatus.DEFERRED.value,
                    OutboxStatus.SENDING.value)


class Health:
    """The health of a host's mailboxes: look at it, verify, record what sending found."""

    def __init__(self, host: HealthHost) -> None:
        self.host = host

    @property
    def every(self) -> float:
        """Seconds between two verifies of a mailbox; 0: the worker verifies none."""
        return self.host.config.health_every

    # -- looking at it -----------------------------------------------------------------

    def notices(self, mailbox: Mailbox, today: dt.date | None = None) -> list[Notice]:
        """The plugins' notices for a mailbox that warn today."""
        today = today or utcnow().date()
        found = self.host.hook.mailbox_notices(self.host, mailbox)
        return [n for n in found if n.warns(today)]

    def report(self, mailbox: Mailbox, *, today: dt.date | None = None) -> HealthReport:
        with self.host.sessions() as s:
            row = s.get(MailboxHealth, mailbox.id)
        return self._report(mailbox, row, today)

    def reports(self, *, state: HealthState | None = None,
                today: dt.date | None = None) -> list[HealthReport]:
        """Every tracked mailbox's report, by address."""
        states = None if state is None else {state}
        return [report for _box, report in self.listing(states=states, today=today)]

    def listing(self, *, states: set[HealthState] | None = None, search: str = "",
                today: dt.date | None = None) -> list[tuple[Mailbox, HealthReport]]:
        """Tracked mailboxes with their reports, by address: those in ``states`` (None:
        all) whose address or user's name contains ``search`` (the admin's health view)."""
        query = select(Mailbox, MailboxHealth).join(
            MailboxHealth, MailboxHealth.mailbox_id == Mailbox.id)
        if search.strip():
            needle = search.strip().lower()
            query = query.outerjoin(User, User.id == Mailbox.user_id).where(or_(*(
                func.lower(column).contains(needle, autoescape=True) for column in (
                    Mailbox.address, Mailbox.display_name, User.login,
                    User.first_name + " " + User.last_name))))
        with self.host.sessions() as s:
            pairs = list(s.execute(query.order_by(Mailbox.address, Mailbox.id)))
        # a mailbox ok at its last verify (daily) is taken as stored: asking every plugin
        # about thousands of mailboxes would make the view slow; a new notice shows after
        # the next verify, within its window. Warned ones are asked again (a renewed
        # secret ends the warning at once).
        found = [(box, self._report(box, row, today,
                                    ask=row.state != HealthState.OK.value))
                 for box, row in pairs]
        return [(b, r) for b, r in found if states is None or r.state in states]

    def counts(self) -> dict[str, int]:
        """Tracked mailboxes by stored state (one query: the admin's overview)."""
        with self.host.sessions() as s:
            rows = dict(s.execute(select(MailboxHealth.state, func.count())
                                  .group_by(MailboxHealth.state)).all())
        return {state.value: rows.get(state.value, 0) for state in HealthState}

    def _report(self, mailbox: Mailbox, row: MailboxHealth | None,
                today: dt.date | None, *, ask: bool = True) -> HealthReport:
        today = today or utcnow().date()
        notices = self.notices(mailbox, today) if ask else []
        stored = HealthState(row.state) if row is not None else HealthState.UNKNOWN
        if stored in (HealthState.OK, HealthState.WARNING):  # dates pass: ask again
            stored = HealthState.WARNING if notices else HealthState.OK
        return HealthReport(mailbox.id, mailbox.address, stored,
                            row.reason if row is not None else None, notices,
                            row.checked_at if row else None, row.changed_at if row else None,
                            row.next_check_at if row else None, today)

    # -- the cadence -------------------------------------------------------------------

    def track(self, mailbox_id: int, *, after: float = AFTER_CHANGE,
              now: dt.datetime | None = None) -> None:
        """Verify a mailbox ``after`` seconds from now (its settings changed): it is
        tracked from then on."""
        when = (now or utcnow()) + dt.timedelta(seconds=after)
        with self.host.transaction() as s:
            row = self._row(s, mailbox_id, when)
            row.next_check_at = when

    def due(self, now: dt.datetime, limit: int) -> list[int]:
        """Mailboxes whose verify is due, the longest waiting first."""
        with self.host.engine.connect() as conn:
            return list(conn.scalars(select(MailboxHealth.mailbox_id).where(
                MailboxHealth.next_check_at <= now).order_by(MailboxHealth.next_check_at)
                .limit(limit)))

    def claim(self, mailbox_id: int, now: dt.datetime, lease: float) -> bool:
        """Take a due verify: its next time moves a lease ahead, in one UPDATE that only
        one worker can win (the row is compared as it is when the UPDATE runs)."""
        t = MailboxHealth
        with self.host.engine.begin() as conn:
            result = conn.execute(update(t).where(
                t.mailbox_id == mailbox_id, t.next_check_at <= now).values(
                next_check_at=now + dt.timedelta(seconds=lease)))
            return bool(result.rowcount)

    def _next(self, now: dt.datetime, state: HealthState) -> dt.datetime:
        """When to verify again: hourly while broken (a fix at the provider is found
        soon), else after the cadence, moved a little so that mailboxes saved together
        drift apart over the day."""
        if state is HealthState.BROKEN:
            seconds = OutboxPolicy.for_host(self.host).pause_after_fix
        else:
            seconds = (self.every or 86400.0) * random.uniform(1 - JITTER, 1 + JITTER)
        return now + dt.timedelta(seconds=seconds)

    # -- verifying ---------------------------------------------------------------------

    def verify(self, mailbox: Mailbox, *, now: dt.datetime | None = None,
               cancelled: Callable[[], bool] = lambda: False) -> HealthReport | None:
        """Sign in and out through the mailbox's transport, sending nothing, within the
        deadline of a test (``FALCANA_TEST_DEADLINE``); record and return what it found.
        None when it was ``cancelled`` (a worker stopping) before it knew."""
        now = now or utcnow()
        deadline = time.monotonic() + self.host.config.test_deadline
        try:
            connection = self.host.transport(mailbox).open(deadline=deadline)
        except LookupError as exc:  # its transport's plugin is not enabled (any more)
            return self._record(mailbox, now, None, missing=str(exc))
        except DeliveryError as error:
            if cancelled():
                return None  # cut off by us: says nothing; the claim runs out
            return self._record(mailbox, now, error)
        with contextlib.suppress(Exception):  # signed in: how it says goodbye does not count
            connection.close()
        return self._record(mailbox, now, None)

    def proved(self, mailbox_id: int, now: dt.datetime | None = None) -> None:
        """A mailbox just sent: a broken state is over (one UPDATE, nothing else when it
        was not broken: the worker calls this once per connection)."""
        t = MailboxHealth
        with self.host.engine.connect() as conn:
            broken = conn.scalar(select(t.state).where(t.mailbox_id == mailbox_id))
        if broken == HealthState.BROKEN.value:
            box = self.host.mailboxes.get(mailbox_id)
            if box is not None:
                self._record(box, now or utcnow(), None, verified=False)

    def failed(self, mailbox_id: int, error: DeliveryError,
               now: dt.datetime | None = None) -> None:
        """Sending found a mailbox-level failure: broken, when it needs a fix."""
        if not needs_a_fix(error):
            return
        box = self.host.mailboxes.get(mailbox_id)
        if box is not None:
            self._record(box, now or utcnow(), error, verified=False)

    def _record(self, mailbox: Mailbox, now: dt.datetime, error: DeliveryError | None, *,
                verified: bool = True, missing: str | None = None) -> HealthReport:
        today = now.date()
        notices = [] if error is not None else self.notices(mailbox, today)
        with self.host.transaction() as s:
            row = self._row(s, mailbox.id, now, lock=True)
            before = HealthState(row.state)
            if missing is not None:  # nothing to verify with: an admin's matter
                after, reason = before, {"step": "transport", "detail": missing,
                                         "passing": True}
            elif error is None:
                after = HealthState.WARNING if notices else HealthState.OK
                reason = None
            elif needs_a_fix(error):
                after, reason = HealthState.BROKEN, error_record(error)
            else:  # out of reach, a quota: says nothing about the mailbox's sign-in
                after, reason = before, {**error_record(error), "passing": True}
            row.state, row.reason = after.value, reason
            row.notices = [{"id": n.id, "due": n.due.isoformat() if n.due else None}
                           for n in notices] or None
            if verified:
                row.checked_at = now
            if after is not before:
                row.changed_at = now
            row.next_check_at = self._next(now, after)
            if after is HealthState.BROKEN:  # mail waits until a verify passes
                queue = lock_queue(s, mailbox.id)
                queue.paused_until = row.next_check_at + dt.timedelta(seconds=60)
                queue.reason = reason
            report = HealthReport(mailbox.id, mailbox.address, after, reason, notices,
                                  row.checked_at, row.changed_at, row.next_check_at, today)
        if before is HealthState.BROKEN and after is not HealthState.BROKEN:
            self.host.outbox.resume(mailbox.id)  # what waited goes out now
        if after is not before:
            log.info("mailbox %s: health %s -> %s", mailbox.id, before.value, after.value)
            self.host.hook.mailbox_health_changed(self.host, mailbox, before, report)
        return report

    def postpone(self, mailbox_id: int, now: dt.datetime) -> None:
        """A verify that could not run (its transport's plugin is gone): not before the
        next round, so a worker does not try it every lease."""
        with self.host.transaction() as s:
            row = self._row(s, mailbox_id, now)
            row.next_check_at = self._next(now, HealthState(row.state))

    def _row(self, s: Session, mailbox_id: int, due: dt.datetime, *,
             lock: bool = False) -> MailboxHealth:
        """The mailbox's row, created if missing (by one of two workers that try at
        once: ON CONFLICT DO NOTHING), locked on PostgreSQL with ``lock``."""
        query = select(MailboxHealth).where(MailboxHealth.mailbox_id == mailbox_id)
        if lock and s.get_bind().dialect.name == "postgresql":
            query = query.with_for_update()
        row = s.scalar(query)
        if row is None:
            s.execute(insert_if_missing(MailboxHealth, s.get_bind().dialect.name), {
                "mailbox_id": mailbox_id, "state": HealthState.UNKNOWN.value,
                "next_check_at": due})
            row = s.scalar(query)
        assert row is not None
        return row

