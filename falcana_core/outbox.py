"""The outbox: mail handed over for a mailbox is stored durably, delivered, retried, never lost.

A host application hands a message over with ``host.outbox.enqueue(mailbox, message)``
(in its own database transaction if it likes); From, Date and Message-ID are fixed then.
Workers (``falcana worker``, falcana_core/worker.py) claim due messages per mailbox under a
lease, send them over connections of that mailbox within the provider's limits, many
mailboxes at once, and commit each result while the claim still holds.

Guarantee: at least once. A worker killed at any moment loses no message: its claims
return to the queue when the lease runs out. A message is sent twice only when the kill
falls between the server's acceptance and the commit, and then with the same Message-ID.

The worker acts on the explanation of a failure (docs/outbox.md), not on the reply's first
digit: transient message-level failures are deferred with exponential backoff and jitter
up to a maximum age; permanent ones fail at once; mailbox-level problems (wrong password,
SMTP AUTH disabled, a quota, Send As refused) pause that mailbox's queue with the reason,
until its settings are changed or the pause runs out.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import logging
import random
from collections.abc import Callable, Iterable, Sequence
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any

from sqlalchemy import String, cast, delete, func, select, update
from sqlalchemy.orm import Session

from falcana_core.bulk import insert_if_missing, insert_rows
from falcana_core.delivery import Retry, Scope
from falcana_core.i18n import current_language
from falcana_core.messages import envelope
from falcana_core.models import (
    AfterDelivery,
    Mailbox,
    MailboxQueue,
    OutboxMessage,
    OutboxStatus,
    User,
    utcnow,
)
from falcana_core.transports import DeliveryError, Limits

if TYPE_CHECKING:
    from falcana_core.store import Store

log = logging.getLogger(__name__)

WAITING = (OutboxStatus.QUEUED.value, OutboxStatus.DEFERRED.value)
FINISHED = (OutboxStatus.SENT.value, OutboxStatus.FAILED.value, OutboxStatus.CANCELLED.value)
DEFAULT_LIMITS = Limits(max_connections=2)  # a transport declares its own (Transport.limits)


def as_utc(value: dt.datetime) -> dt.datetime:
    """SQLite hands back naive datetimes; everything here is UTC."""
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


@dataclasses.dataclass(frozen=True)
class OutboxPolicy:
    max_age: dt.timedelta = dt.timedelta(days=3)
    backoff_base: float = 60.0  # seconds before the first retry
    backoff_cap: float = 3600.0
    pause_after_fix: float = 3600.0  # a mailbox problem that needs a change: check hourly
    batch: int = 50  # messages claimed per mailbox at a time
    #: seconds a claim (of messages to send, or of a copy to file) lasts; the worker's
    #: heartbeat renews it every third of that, so a worker that dies holds its messages
    #: back for at most this long
    lease: float = 15.0

    @classmethod
    def for_host(cls, host: Store) -> OutboxPolicy:
        config = host.config
        return cls(lease=config.outbox_lease,
                   max_age=dt.timedelta(seconds=config.outbox_max_age))

    def backoff(self, attempt: int) -> float:
        delay: float = min(self.backoff_base * 2.0 ** max(0, attempt - 1), self.backoff_cap)
        return delay * random.uniform(0.8, 1.2)


class Outcome(enum.Enum):
    DEFER = "defer"
    FAIL = "fail"
    PAUSE = "pause"


def outcome_of(error: DeliveryError) -> Outcome:
    """What to do about a failed delivery, from its explanation's retry and scope."""
    explanation = error.explanation
    if explanation is None:
        return Outcome.DEFER
    if explanation.scope in (Scope.MAILBOX, Scope.DOMAIN):
        return Outcome.PAUSE
    if error.outcome_unknown or explanation.retry is Retry.LATER:
        return Outcome.DEFER
    return Outcome.FAIL


def error_record(error: DeliveryError) -> dict[str, Any]:
    failure, explanation = error.failure, error.explanation
    return {
        "step": failure.step,
        "kind": failure.kind.value,
        "reply": str(failure.reply) if failure.reply else None,
        "explanation": explanation.as_dict(current_language()) if explanation else None,
        "outcome_unknown": error.outcome_unknown,
    }


class HandOverRefused(ValueError):
    """A message of a hand-over cannot be queued; ``index`` is its place in the batch."""

    def __init__(self, index: int, reason: str) -> None:
        super().__init__(f"message {index} of the hand-over: {reason}")
        self.index = index
        self.reason = reason


class Outbox:
    """The outbox of one host: hand over, look at, retry and cancel messages."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # -- handing over ------------------------------------------------------------------

    def enqueue(self, mailbox: Mailbox, message: EmailMessage, *,
                session: Session | None = None) -> int:
        """Store a message for a mailbox; returns its outbox id.

        With ``session`` the message joins the caller's transaction (same database): it
        is queued exactly when the caller commits."""
        return self.enqueue_many([(mailbox, message)], session=session)[0]

    def enqueue_many(self, items: Iterable[tuple[Mailbox, EmailMessage]], *,
                     session: Session | None = None) -> list[int]:
        """Store many messages in one transaction (one multi-row INSERT, the senders'
        names looked up once), all or nothing: a message that cannot be sent (no
        recipient, an address that is none) refuses the whole batch with
        ``HandOverRefused`` (its index and why) before anything is written."""
        pairs = list(items)
        names = self._user_names({box.user_id for box, _msg in pairs
                                  if box.user_id and not box.display_name})
        rows = []
        for index, (box, msg) in enumerate(pairs):
            try:
                rows.append(self._row(box, msg, names))
            except ValueError as exc:  # before anything is written: nothing half-queued
                raise HandOverRefused(index, str(exc)) from None
        if not rows:
            return []
        # Core rows, not ORM objects: the hand-over of a mailing costs a fraction of the
        # time and memory, and the ids come back in the order the messages were given
        table: Any = OutboxMessage.__table__
        if session is not None:
            return insert_rows(session.connection(), table, rows)
        with self.store.transaction() as s:
            return insert_rows(s.connection(), table, rows)

    def _row(self, mailbox: Mailbox, message: EmailMessage,
             names: dict[int, str]) -> dict[str, Any]:
        name = mailbox.display_name or (names.get(mailbox.user_id, "")
                                        if mailbox.user_id else "")
        ready = envelope(message, mailbox.address, name)
        now = utcnow()
        return {"mailbox_id": mailbox.id, "message_id": ready.message_id,
                "sender": mailbox.address, "smtputf8": ready.smtputf8,
                "subject": str(message.get("Subject", ""))[:255],
                "recipients": {r: {"status": "pending"} for r in ready.recipients},
                "content": ready.content, "status": OutboxStatus.QUEUED.value, "attempts": 0,
                "created_at": now, "next_attempt_at": now}

    def _user_names(self, user_ids: set[int]) -> dict[int, str]:
        """The current names of the senders: the From of a personal mailbox without a
        display name of its own."""
        if not user_ids:
            return {}
        with self.store.sessions() as s:
            users = s.scalars(select(User).where(User.id.in_(sorted(user_ids))))
            return {user.id: user.full_name for user in users}

    # -- looking at it -----------------------------------------------------------------

    def get(self, outbox_id: int) -> OutboxMessage | None:
        with self.store.sessions() as s:
            return s.get(OutboxMessage, outbox_id)

    def find_sent(self, mailbox_id: int, message_ids: Sequence[str]) -> OutboxMessage | None:
        """The message this mailbox sent with one of these Message-IDs (a report about it
        names them); never another mailbox's."""
        wanted = {m.strip() for m in message_ids if m and m.strip()}
        wanted |= {f"<{m.strip('<>')}>" for m in wanted}
        if not wanted:
            return None
        with self.store.sessions() as s:
            return s.scalar(select(OutboxMessage).where(
                OutboxMessage.mailbox_id == mailbox_id, OutboxMessage.sent_at.is_not(None),
                OutboxMessage.message_id.in_(sorted(wanted))).order_by(OutboxMessage.id)
                .limit(1))

    def senders_since(self, since: dt.datetime) -> set[int]:
        """The mailboxes that sent a message since then."""
        with self.store.sessions() as s:
            return set(s.scalars(select(OutboxMessage.mailbox_id).where(
                OutboxMessage.sent_at >= since).distinct()))

    def last_sent(self, mailbox_id: int) -> dt.datetime | None:
        """When this mailbox last sent a message (None: never)."""
        with self.store.sessions() as s:
            found = s.scalar(select(func.max(OutboxMessage.sent_at)).where(
                OutboxMessage.mailbox_id == mailbox_id))
        return as_utc(found) if found is not None else None

    def sent_to(self, mailbox_id: int, recipient: str, since: dt.datetime,
                until: dt.datetime) -> OutboxMessage | None:
        """The latest message this mailbox sent to ``recipient`` in a time window."""
        wanted = recipient.strip().lower()
        with self.store.sessions() as s:
            rows = s.scalars(select(OutboxMessage).where(
                OutboxMessage.mailbox_id == mailbox_id, OutboxMessage.sent_at >= since,
                OutboxMessage.sent_at <= until).order_by(OutboxMessage.sent_at.desc())
                .limit(500))
            return next((r for r in rows if wanted in {a.lower() for a in r.recipients}),
                        None)

    def recipient_learned(self, outbox_id: int, address: str, status: str,
                          detail: dict[str, Any], *, keep: Callable[[str], bool] =
                          lambda _old: False) -> bool:
        """What became of a recipient after the server accepted the message, as a plugin
        learned it later (a delivery report): its status and the detail, with the time.
        ``keep(old_status)`` True leaves a status that says more (a hard bounce is not
        undone by an auto-reply). Returns whether it was recorded."""
        with self.store.transaction() as s:
            query = select(OutboxMessage).where(OutboxMessage.id == outbox_id)
            if s.get_bind().dialect.name == "postgresql":
                query = query.with_for_update()
            row = s.scalar(query)
            if row is None:
                return False
            key = next((a for a in row.recipients if a.lower() == address.lower()), None)
            if key is None:
                return False
            before = dict(row.recipients[key] or {})
            if keep(str(before.get("status", ""))):
                return False
            history = [*before.get("history", []),
                       {k: v for k, v in before.items() if k != "history"}]
            row.recipients = {**row.recipients, key: {
                **detail, "status": status, "learned_at": utcnow().isoformat(),
                "history": history[-10:]}}
        return True

    def list(self, *, status: str | None = None, mailbox_id: int | None = None,
             limit: int = 50, recipient_status: str | None = None) -> list[OutboxMessage]:
        """Newest first. ``recipient_status``: only messages with a recipient whose status
        (as sent, or as learned later) starts with it: "bounced" finds every bounce."""
        query = select(OutboxMessage).order_by(OutboxMessage.id.desc())
        if status:
            query = query.where(OutboxMessage.status == status)
        if mailbox_id is not None:
            query = query.where(OutboxMessage.mailbox_id == mailbox_id)
        if not recipient_status:
            with self.store.sessions() as s:
                return list(s.scalars(query.limit(limit)).all())
        # the JSON's text narrows it down in the database; each row is then checked
        query = query.where(cast(OutboxMessage.recipients, String).contains(
            f'"{recipient_status}', autoescape=True))
        found: list[OutboxMessage] = []
        with self.store.sessions() as s:
            for row in s.scalars(query.execution_options(yield_per=500)):
                if any(str((r or {}).get("status", "")).startswith(recipient_status)
                       for r in (row.recipients or {}).values()):
                    found.append(row)
                    if len(found) == limit:
                        break
        return found

    def counts(self, mailbox_id: int | None = None) -> dict[str, int]:
        query = select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
        if mailbox_id is not None:
            query = query.where(OutboxMessage.mailbox_id == mailbox_id)
        with self.store.sessions() as s:
            found = {status: n for status, n in s.execute(query)}
        return {status.value: found.get(status.value, 0) for status in OutboxStatus}

    def queue_state(self, mailbox_id: int) -> MailboxQueue | None:
        with self.store.sessions() as s:
            return s.get(MailboxQueue, mailbox_id)

    def paused(self, mailbox_id: int, now: dt.datetime | None = None) -> MailboxQueue | None:
        state = self.queue_state(mailbox_id)
        now = now or utcnow()
        if state and state.paused_until and as_utc(state.paused_until) > now:
            return state
        return None

    # -- admin actions -----------------------------------------------------------------

    def retry(self, outbox_id: int, *, actor: str) -> bool:
        """Deferred or failed: try again now."""
        return self._set(outbox_id, actor, "outbox.retry", (
            OutboxStatus.DEFERRED.value, OutboxStatus.FAILED.value),
            status=OutboxStatus.QUEUED.value, next_attempt_at=utcnow())

    def cancel(self, outbox_id: int, *, actor: str) -> bool:
        """Not yet sent: never send it. A message being sent right now cannot be cancelled."""
        return self._set(outbox_id, actor, "outbox.cancel", (*WAITING,
                                                             OutboxStatus.FAILED.value),
                         status=OutboxStatus.CANCELLED.value)

    def _set(self, outbox_id: int, actor: str, action: str, allowed: Sequence[str],
             **values: Any) -> bool:
        with self.store.transaction() as s:
            result = s.execute(update(OutboxMessage).where(
                OutboxMessage.id == outbox_id, OutboxMessage.status.in_(allowed)
            ).values(**values))
            changed = bool(getattr(result, "rowcount", 0))
        if changed:
            self.store.audit.record(actor, action, "outbox", str(outbox_id))
        return changed

    def purge(self, older_than: dt.timedelta, *, actor: str, dry_run: bool = False,
              chunk: int = 5000) -> int:
        """Delete finished messages (sent, failed, cancelled) older than ``older_than``:
        their content, recipients and errors. A message with a step after delivery still
        to be done (its copy in Sent) stays. Deletes in chunks, so the web UI and the
        worker are never held for long; returns how many (would) go."""
        cutoff = utcnow() - older_than
        t = OutboxMessage
        a = AfterDelivery
        finished = (t.status.in_(FINISHED)
                    & (func.coalesce(t.sent_at, t.created_at) < cutoff)
                    & ~select(a.outbox_id).where(a.outbox_id == t.id,
                                                 a.status == "pending").exists())
        if dry_run:
            with self.store.sessions() as s:
                return s.scalar(select(func.count()).where(finished)) or 0
        removed = 0
        while True:
            with self.store.transaction() as s:
                ids = list(s.scalars(select(t.id).where(finished).order_by(t.id).limit(chunk)))
                if not ids:
                    break
                s.execute(delete(a).where(a.outbox_id.in_(ids)))
                s.execute(delete(t).where(t.id.in_(ids)))
                removed += len(ids)
        self.store.audit.record(actor, "outbox.purge", "outbox", "", {
            "older_than_days": round(older_than.total_seconds() / 86400, 2),
            "removed": removed})
        return removed

    def pause(self, mailbox_id: int, reason: dict[str, Any], *,
              for_: dt.timedelta = dt.timedelta(days=30), session: Session | None = None) -> None:
        """Hold a mailbox's queue (a plugin found a mailbox-level problem, such as a sign-in
        to renew) until ``for_`` passes or its settings change; ``reason`` is shown in the
        popup (``{"step": ..., "explanation": {"id", "cause", "fix"}}``). With ``session``
        it joins the caller's transaction."""
        def hold(s: Session) -> None:
            state = lock_queue(s, mailbox_id)
            state.paused_until = utcnow() + for_
            state.pauses += 1
            state.reason = reason

        if session is not None:
            hold(session)
            return
        with self.store.transaction() as s:
            hold(s)

    def resume(self, mailbox_id: int) -> None:
        """Lift a mailbox's pause (its settings changed: worth another try)."""
        with self.store.transaction() as s:
            state = s.get(MailboxQueue, mailbox_id)
            if state is not None and state.paused_until is not None:
                state.paused_until = None
                state.reason = None


def lock_queue(s: Session, mailbox_id: int) -> MailboxQueue:
    """A mailbox's queue row, created if missing and locked (``FOR UPDATE`` on PostgreSQL;
    SQLite's write lock is taken by the transaction's first write): claims and pauses of
    one mailbox happen one at a time."""
    postgres = s.get_bind().dialect.name == "postgresql"
    query = select(MailboxQueue).where(MailboxQueue.mailbox_id == mailbox_id)
    if postgres:
        query = query.with_for_update()
    state = s.scalar(query)
    if state is None:
        s.execute(insert_queue_row(s.get_bind().dialect.name),
                  {"mailbox_id": mailbox_id, "pauses": 0, "updated_at": utcnow()})
        state = s.scalar(query)
    assert state is not None
    return state


def insert_queue_row(dialect: str) -> Any:
    """INSERT of a mailbox's queue row, left alone when another worker made it first."""
    return insert_if_missing(MailboxQueue, dialect)
