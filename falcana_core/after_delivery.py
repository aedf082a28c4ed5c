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

from sqlalchemy import Table, delete, insert, select, update

from falcana_core.delivery import Scope
from falcana_core.models import AfterDelivery, Mailbox, OutboxMessage
from falcana_core.outbox import OutboxPolicy, as_utc, error_record
from falcana_core.transports import DeliveryError, FollowUp

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
                 hold: Callable[[int, int, str], Callable[[], None]]) -> None:
        self.host = host
        self.policy = policy
        self.now = now
        self._turn = turn
        self._stopping = stopping
        self._hold = hold

    def due_mailboxes(self) -> list[int]:
        with self.host.engine.connect() as conn:
            return list(conn.scalars(select(_STEPS.c.mailbox_id).distinct().where(
                _STEPS.c.status == PENDING, _STEPS.c.next_at <= self.now())))

    def renew(self, conn: Any, held: Sequence[tuple[int, str]], until: dt.datetime) -> None:
        """Move the leases of the steps in hand (inside the heartbeat's transaction)."""
        for outbox_id, duty in held:
            conn.execute(update(_STEPS).where(
                _STEPS.c.outbox_id == outbox_id, _STEPS.c.duty == duty,
                _STEPS.c.status == PENDING).values(next_at=until))

    def run(self, box: Mailbox, duties: Sequence[FollowUp], limit: int = 100) -> int:
        """The due steps of one mailbox, one claim at a time (several workers never do the
        same step at once; a crash in between is caught by the step's look)."""
        wanted = {d.duty for d in duties}
        self._forget_unwanted(box.id, wanted)
        done = 0
        for duty in duties:
            try:
                while done < limit and not self._stopping():
                    row = self._claim(box.id, duty.duty)
                    if row is None:
                        break
                    done += 1
                    if not self._do(duty, row):
                        break  # a mailbox-wide problem (login): this duty waits
            finally:
                duty.close()
        return done

    def _do(self, duty: FollowUp, row: Any) -> bool:
        """One step; False when its failure concerns the whole mailbox."""
        release = self._hold(row.id, row.mailbox_id, duty.duty)
        try:  # attempts are counted at the claim: a crash shows as one
            duty.run(row.content, row.message_id, as_utc(row.sent_at) or self.now(),
                     look_first=row.attempts > 1)
        except DeliveryError as error:
            return not self._failed(duty, row, error)
        finally:
            release()
        with self._turn, self.host.transaction() as s:
            s.execute(update(_STEPS).where(_STEPS.c.outbox_id == row.id,
                                           _STEPS.c.duty == duty.duty)
                      .values(status=DONE, error=None))
        return True

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

    def _claim(self, mailbox_id: int, duty: str) -> Any:
        now = self.now()
        t = _STEPS
        with self._turn, self.host.transaction() as s:
            oid = s.scalar(select(t.c.outbox_id).where(
                t.c.mailbox_id == mailbox_id, t.c.duty == duty, t.c.status == PENDING,
                t.c.next_at <= now).order_by(t.c.outbox_id).limit(1))
            if oid is None:
                return None
            result = s.execute(update(t).where(
                t.c.outbox_id == oid, t.c.duty == duty, t.c.next_at <= now).values(
                next_at=now + dt.timedelta(seconds=self.policy.lease),
                attempts=t.c.attempts + 1))
            if not getattr(result, "rowcount", 0):
                return None
            m = _MESSAGES
            return s.execute(select(m.c.id, m.c.mailbox_id, m.c.content, m.c.message_id,
                                    m.c.sent_at, t.c.attempts)
                             .join(t, (t.c.outbox_id == m.c.id) & (t.c.duty == duty))
                             .where(m.c.id == oid)).one()

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
