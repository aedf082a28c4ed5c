"""The worker's second duty: the durable steps after delivery that plugins register (hook
``after_delivery``; the copy in Sent is one), done after a mailbox's connection closed.

A step is recorded in the commit that marks its message sent, so a crash can lose none.
One worker at a time does a step: its claim moves ``next_at`` a lease ahead (renewed by
the heartbeat) and counts the attempt, so a crash shows as an attempt and the next one
is told to look first. A failure waits with the outbox's back-off; one that concerns the
whole mailbox (a login) holds back the mailbox's other steps of that duty too.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import Table, delete, func, insert, select, update

from falcana_core.delivery import Scope
from falcana_core.models import AfterDelivery, Mailbox, OutboxMessage
from falcana_core.outbox import OutboxPolicy, as_utc, error_record
from falcana_core.transports import Delivered, DeliveryError, FollowUp

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    from falcana_core.host import Host

PENDING, DONE, FAILED = "pending", "done", "failed"
_STEPS: Table = AfterDelivery.__table__  # type: ignore[assignment]
_MESSAGES: Table = OutboxMessage.__table__  # type: ignore[assignment]
#: built once: recorded with every message sent (the worker's hot path)
RECORD = insert(_STEPS)


def records(outbox_id: int, mailbox_id: int, duties: Sequence[str],
            now: dt.datetime) -> list[dict[str, Any]]:
    """The rows ``RECORD`` inserts for one message just sent: one due step a duty."""
    return [{"outbox_id": outbox_id, "duty": duty, "mailbox_id": mailbox_id,
             "status": PENDING, "attempts": 0, "next_at": now, "error": None}
            for duty in duties]


class StepsAfterDelivery:
    """Does the due steps of a worker's mailboxes; ``hold(outbox_id, duty)`` and
    ``release`` tell the worker's heartbeat which leases to renew."""

    def __init__(self, host: Host, policy: OutboxPolicy, now: Callable[[], dt.datetime],
                 turn: AbstractContextManager[Any], stopping: Callable[[], bool],
                 hold: Callable[[Sequence[int], int, str], Callable[[], None]]) -> None:
        self.host = host
        self.policy = policy
        self.now = now
        self._turn = turn
        self._stopping = stopping
        self._hold = hold

    def due_mailboxes(self) -> dict[int, int]:
        """Mailboxes with due steps, and how many (one range of the due index)."""
        with self.host.engine.connect() as conn:
            rows = conn.execute(select(_STEPS.c.mailbox_id, func.count()).where(
                _STEPS.c.status == PENDING, _STEPS.c.next_at <= self.now())
                .group_by(_STEPS.c.mailbox_id))
            return {mailbox_id: count for mailbox_id, count in rows}

    def renew(self, conn: Any, held: Sequence[tuple[int, str]], until: dt.datetime) -> None:
        """Move the leases of the steps in hand (inside the heartbeat's transaction)."""
        by_duty: dict[str, list[int]] = {}
        for outbox_id, duty in held:
            by_duty.setdefault(duty, []).append(outbox_id)
        for duty, ids in by_duty.items():
            conn.execute(update(_STEPS).where(
                _STEPS.c.outbox_id.in_(ids), _STEPS.c.duty == duty,
                _STEPS.c.status == PENDING).values(next_at=until))

    def run(self, box: Mailbox, duties: Sequence[FollowUp], limit: int = 500) -> int:
        """The due steps of one mailbox, a batch per claim (several workers never do the
        same step at once; a crash in between is caught by the step's look)."""
        wanted = {d.duty for d in duties}
        self._forget_unwanted(box.id, wanted)
        done = 0
        for duty in duties:
            try:
                while done < limit and not self._stopping():
                    rows = self._claim(box.id, duty.duty, min(self.policy.batch, limit - done))
                    if not rows:
                        break
                    done += len(rows)
                    if not self._do(duty, rows):
                        break  # a mailbox-wide problem (login): this duty waits
            finally:
                duty.close()
        return done

    def _do(self, duty: FollowUp, rows: Sequence[Any]) -> bool:
        """One batch of steps; False when a failure concerns the whole mailbox."""
        release = self._hold([r.id for r in rows], rows[0].mailbox_id, duty.duty)
        try:  # attempts are counted at the claim: a crash shows as one
            results = list(duty.run([Delivered(
                r.id, r.content, r.message_id, as_utc(r.sent_at) or self.now(),
                look_first=r.attempts > 1) for r in rows]))
        except DeliveryError as error:  # the whole batch failed alike
            results = [error] * len(rows)
        finally:
            release()
        if len(results) != len(rows):
            raise RuntimeError(f"{duty.duty}: {len(results)} results for {len(rows)} steps")
        finished = [r.id for r, result in zip(rows, results, strict=True) if result is None]
        if finished:
            with self._turn, self.host.transaction() as s:
                s.execute(update(_STEPS).where(_STEPS.c.outbox_id.in_(finished),
                                               _STEPS.c.duty == duty.duty)
                          .values(status=DONE, error=None))
        mailbox_wide = False
        for row, result in zip(rows, results, strict=True):
            if result is not None:
                mailbox_wide = self._failed(duty, row, result) or mailbox_wide
        return not mailbox_wide

    def _forget_unwanted(self, mailbox_id: int, wanted: set[str]) -> None:
        """Steps of a duty the mailbox no longer has (switched off meanwhile) are not due
        any more."""
        unwanted = (_STEPS.c.mailbox_id == mailbox_id) & (_STEPS.c.status == PENDING)
        if wanted:
            unwanted &= _STEPS.c.duty.not_in(sorted(wanted))
        with self.host.engine.connect() as conn:
            if conn.scalar(select(_STEPS.c.outbox_id).where(unwanted).limit(1)) is None:
                return
        with self._turn, self.host.transaction() as s:
            s.execute(delete(_STEPS).where(unwanted))

    def _claim(self, mailbox_id: int, duty: str, batch: int) -> list[Any]:
        """Up to ``batch`` due steps of a mailbox's duty, oldest first, with their
        messages: their lease starts and their attempt is counted (one transaction)."""
        now = self.now()
        t, m = _STEPS, _MESSAGES
        with self._turn, self.host.transaction() as s:
            due = select(t.c.outbox_id).where(
                t.c.mailbox_id == mailbox_id, t.c.duty == duty, t.c.status == PENDING,
                t.c.next_at <= now).order_by(t.c.outbox_id).limit(batch)
            if s.get_bind().dialect.name == "postgresql":  # other workers skip these
                due = due.with_for_update(skip_locked=True)
            ids = list(s.scalars(due))
            if not ids:
                return []
            taken = list(s.scalars(update(t).where(
                t.c.outbox_id.in_(ids), t.c.duty == duty, t.c.status == PENDING,
                t.c.next_at <= now).values(
                next_at=now + dt.timedelta(seconds=self.policy.lease),
                attempts=t.c.attempts + 1).returning(t.c.outbox_id)))
            if not taken:
                return []
            return list(s.execute(select(m.c.id, m.c.mailbox_id, m.c.content, m.c.message_id,
                                         m.c.sent_at, t.c.attempts)
                                  .join(t, (t.c.outbox_id == m.c.id) & (t.c.duty == duty))
                                  .where(m.c.id.in_(taken)).order_by(m.c.id)))

    def _failed(self, duty: FollowUp, row: Any, error: DeliveryError) -> bool:
        """Record the failure; True when it concerns every step of the mailbox's duty."""
        now = self.now()
        attempts = row.attempts  # counted at the claim
        later = now + dt.timedelta(seconds=self.policy.backoff(attempts))
        mailbox_wide = error.explanation is not None and \
            error.explanation.scope is Scope.MAILBOX
        t = _STEPS
        with self._turn, self.host.transaction() as s:
            s.execute(update(t).where(t.c.outbox_id == row.id, t.c.duty == duty.duty).values(
                error=error_record(error), next_at=later,
                status=FAILED if attempts >= duty.max_attempts else PENDING))
            if mailbox_wide:
                s.execute(update(t).where(t.c.mailbox_id == row.mailbox_id,
                                          t.c.duty == duty.duty, t.c.status == PENDING)
                          .values(next_at=later))
        return mailbox_wide
