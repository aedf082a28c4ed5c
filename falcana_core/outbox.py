"""The outbox: mail handed over for a mailbox is stored durably, delivered, retried, never lost.

A host application hands a message over with ``host.outbox.enqueue(mailbox, message)``
(in its own database transaction if it likes); From, Date and Message-ID are fixed then.
Workers (``falcana worker``) claim due messages per mailbox under a lease, send them over
one connection per mailbox within the provider's limits, and commit each result while the
claim still holds.

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
import email
import email.policy
import email.utils
import enum
import logging
import random
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any

from sqlalchemy import Table, and_, bindparam, func, or_, select, update
from sqlalchemy.orm import Session

from falcana_core.addresses import ascii_address
from falcana_core.delivery import Retry, Scope
from falcana_core.i18n import current_language
from falcana_core.messages import stamp
from falcana_core.models import Mailbox, MailboxQueue, OutboxMessage, OutboxStatus, utcnow
from falcana_core.providers import Limits
from falcana_core.transports import DeliveryError, Envelope, cancellation

if TYPE_CHECKING:
    from falcana_core.host import Host

log = logging.getLogger(__name__)

WAITING = (OutboxStatus.QUEUED.value, OutboxStatus.DEFERRED.value)
DEFAULT_LIMITS = Limits(max_connections=2)  # providers declare their own through a hook


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
    lease: float = 210.0  # longer than the worst-case SMTP time of one message

    @classmethod
    def for_host(cls, host: Host) -> OutboxPolicy:
        config = host.config
        # connect + greeting + EHLO + STARTTLS + EHLO + AUTH + MAIL + RCPT + DATA, each bounded
        lease = config.outbox_lease or max(30.0, 10 * config.net_timeout)
        return cls(lease=lease, max_age=dt.timedelta(seconds=config.outbox_max_age))

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
    if explanation.scope is Scope.MAILBOX:
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


class Outbox:
    """The outbox of one host: hand over, look at, retry and cancel messages."""

    def __init__(self, host: Host) -> None:
        self.host = host

    # -- handing over ------------------------------------------------------------------

    def enqueue(self, mailbox: Mailbox, message: EmailMessage, *,
                session: Session | None = None) -> int:
        """Store a message for a mailbox; returns its outbox id.

        With ``session`` the message joins the caller's transaction (same database): it
        is queued exactly when the caller commits."""
        return self.enqueue_many([(mailbox, message)], session=session)[0]

    def enqueue_many(self, items: Iterable[tuple[Mailbox, EmailMessage]], *,
                     session: Session | None = None) -> list[int]:
        rows = [self._row(box, msg) for box, msg in items]
        if session is not None:
            session.add_all(rows)
            session.flush()
            return [r.id for r in rows]
        with self.host.transaction() as s:
            s.add_all(rows)
            s.flush()
            return [r.id for r in rows]

    def _row(self, mailbox: Mailbox, message: EmailMessage) -> OutboxMessage:
        name = mailbox.display_name or (self._user_name(mailbox) if mailbox.user_id else "")
        message_id = stamp(message, mailbox.address, name)
        recipients = [addr for _n, addr in email.utils.getaddresses(
            [str(v) for key in ("To", "Cc", "Bcc") for v in message.get_all(key, [])]) if addr]
        if not recipients:
            raise ValueError("the message has no recipient (To, Cc or Bcc)")
        wire = [ascii_address(a) for a in [mailbox.address, *recipients]]
        utf8 = any(a is None for a in wire)
        del message["Bcc"]  # the envelope keeps them; the content must not show them
        content = message.as_bytes(policy=email.policy.SMTPUTF8 if utf8 else email.policy.SMTP)
        return OutboxMessage(
            mailbox_id=mailbox.id, message_id=message_id, sender=mailbox.address,
            smtputf8=utf8, subject=str(message.get("Subject", ""))[:255],
            recipients={r: {"status": "pending"} for r in recipients}, content=content)

    def _user_name(self, mailbox: Mailbox) -> str:
        user = self.host.users.get(mailbox.user_id) if mailbox.user_id else None
        return user.full_name if user else ""

    # -- looking at it -----------------------------------------------------------------

    def get(self, outbox_id: int) -> OutboxMessage | None:
        with self.host.sessions() as s:
            return s.get(OutboxMessage, outbox_id)

    def list(self, *, status: str | None = None, mailbox_id: int | None = None,
             limit: int = 50) -> list[OutboxMessage]:
        query = select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(limit)
        if status:
            query = query.where(OutboxMessage.status == status)
        if mailbox_id is not None:
            query = query.where(OutboxMessage.mailbox_id == mailbox_id)
        with self.host.sessions() as s:
            return list(s.scalars(query).all())

    def counts(self, mailbox_id: int | None = None) -> dict[str, int]:
        query = select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
        if mailbox_id is not None:
            query = query.where(OutboxMessage.mailbox_id == mailbox_id)
        with self.host.sessions() as s:
            found = {status: n for status, n in s.execute(query)}
        return {status.value: found.get(status.value, 0) for status in OutboxStatus}

    def queue_state(self, mailbox_id: int) -> MailboxQueue | None:
        with self.host.sessions() as s:
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
        with self.host.transaction() as s:
            result = s.execute(update(OutboxMessage).where(
                OutboxMessage.id == outbox_id, OutboxMessage.status.in_(allowed)
            ).values(**values))
            changed = bool(getattr(result, "rowcount", 0))
        if changed:
            self.host.audit.record(actor, action, "outbox", str(outbox_id))
        return changed

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
        with self.host.transaction() as s:
            hold(s)

    def resume(self, mailbox_id: int) -> None:
        """Lift a mailbox's pause (its settings changed: worth another try)."""
        with self.host.transaction() as s:
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
        # another worker may create it at the same moment: insert or leave it
        # the dialect's module is loaded only where it is used (start-up time)
        if postgres:
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            statement: Any = pg_insert(MailboxQueue)
        else:
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            statement = sqlite_insert(MailboxQueue)
        s.execute(statement.values(mailbox_id=mailbox_id, pauses=0, updated_at=utcnow())
                  .on_conflict_do_nothing(index_elements=["mailbox_id"]))
        state = s.scalar(query)
    assert state is not None
    return state


@dataclasses.dataclass
class Claim:
    token: str
    mailbox_id: int
    ids: list[int]
    renewed_at: float = dataclasses.field(default_factory=time.monotonic)


_TABLE: Table = OutboxMessage.__table__  # type: ignore[assignment]
#: Built once: statement construction costs more than SQLite's commit on the hot path.
_SENT = update(_TABLE).where(
    _TABLE.c.id == bindparam("oid"), _TABLE.c.claim_token == bindparam("token"),
    _TABLE.c.status == OutboxStatus.SENDING.value,
).values(status=OutboxStatus.SENT.value, sent_at=bindparam("now"),
         attempts=bindparam("attempts"), recipients=bindparam("recipients"),
         claim_token=None, lease_until=None, copy_status=bindparam("copy"),
         copy_next_at=bindparam("now"))
#: a copy in Sent is given up after this many failed attempts (the mail itself went out)
MAX_COPY_ATTEMPTS = 8


class Worker:
    """Delivers due messages. Several workers may share a PostgreSQL queue."""

    def __init__(self, host: Host, *, policy: OutboxPolicy | None = None,
                 clock: Callable[[], dt.datetime] = utcnow,
                 progress: Callable[[int], None] | None = None) -> None:
        self.host = host
        self.policy = policy or OutboxPolicy.for_host(host)
        self.now = clock
        self.progress = progress
        self.sent = 0
        self._postgres = host.engine.dialect.name == "postgresql"
        self._providers: dict[int, tuple[float, str | None]] = {}
        self._stop: threading.Event | None = None

    def _stopping(self) -> bool:
        return self._stop is not None and self._stop.is_set()

    def stop(self) -> None:
        """Stop within seconds (SIGTERM): every open connection is shut at once; what was
        not yet handed over goes back to the queue, a message whose DATA had begun is
        recorded with its outcome unknown."""
        if self._stop is None:
            self._stop = threading.Event()
        self._stop.set()
        cancellation.abort_all()

    # -- the loop ----------------------------------------------------------------------

    def run(self, *, once: bool = False, poll: float = 2.0,
            stop: threading.Event | None = None) -> int:
        """Deliver until stopped (``once``: until nothing is due). Returns messages handled."""
        handled = 0
        self._stop = stop
        while not (stop and stop.is_set()):
            done = self.run_once()
            handled += done
            if once and done == 0:
                break
            if done == 0:
                (stop.wait(poll) if stop else time.sleep(poll))
        return handled

    def run_once(self) -> int:
        """One pass over every mailbox with due messages, then the copies in Sent that
        are still due (after a crash, or after a failed attempt)."""
        handled = 0
        for mailbox_id in self._mailboxes_due():
            if self._stopping():
                break
            claim = self._claim(mailbox_id)
            if claim is not None and claim.ids:
                handled += self._deliver(claim)
        for mailbox_id in self._copies_due():
            if self._stopping():
                break
            handled += self._file_copies(mailbox_id)
        return handled

    def _mailboxes_due(self) -> list[int]:
        now = self.now()
        with self.host.sessions() as s:
            query = (select(OutboxMessage.mailbox_id).distinct()
                     .outerjoin(MailboxQueue, MailboxQueue.mailbox_id == OutboxMessage.mailbox_id)
                     .where(or_(and_(OutboxMessage.status.in_(WAITING),
                                     OutboxMessage.next_attempt_at <= now),
                                and_(OutboxMessage.status == OutboxStatus.SENDING.value,
                                     OutboxMessage.lease_until < now)))
                     .where(or_(MailboxQueue.paused_until.is_(None),
                                MailboxQueue.paused_until <= now)))
            ids = list(s.scalars(query).all())
        random.shuffle(ids)  # several workers: start at different mailboxes
        return ids

    # -- claiming ----------------------------------------------------------------------

    def limits(self, mailbox_id: int) -> Limits:
        """The provider's declared limits (hook ``provider_limits``), else the defaults."""
        provider = self._provider(mailbox_id)
        declared = self.host.hook.provider_limits(provider) if provider else None
        if declared is None:
            return DEFAULT_LIMITS
        return dataclasses.replace(
            declared,
            max_connections=declared.max_connections or DEFAULT_LIMITS.max_connections)

    def _provider(self, mailbox_id: int) -> str | None:
        cached = self._providers.get(mailbox_id)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        box = self.host.mailboxes.get(mailbox_id)
        provider = None
        if box is not None:
            transport = self.host.transport(box)
            provider = transport.provider() if hasattr(transport, "provider") else None
        self._providers[mailbox_id] = (time.monotonic() + 300, provider)
        return provider

    def _claim(self, mailbox_id: int) -> Claim | None:
        """Claim up to a batch of due messages of one mailbox, within its limits."""
        now = self.now()
        limits = self.limits(mailbox_id)
        token = secrets.token_hex(16)
        with self.host.transaction() as s:
            state = lock_queue(s, mailbox_id)
            if state.paused_until is not None and as_utc(state.paused_until) > now:
                return None
            sending = s.scalar(select(func.count(func.distinct(OutboxMessage.claim_token)))
                               .where(OutboxMessage.mailbox_id == mailbox_id,
                                      OutboxMessage.status == OutboxStatus.SENDING.value,
                                      OutboxMessage.lease_until >= now)) or 0
            if limits.max_connections and sending >= limits.max_connections:
                return None
            allowed = self.policy.batch
            for window, cap in ((dt.timedelta(minutes=1), limits.messages_per_minute),
                                (dt.timedelta(days=1), limits.messages_per_day)):
                if cap:
                    recent = s.scalar(select(func.count()).select_from(OutboxMessage).where(
                        OutboxMessage.mailbox_id == mailbox_id,
                        OutboxMessage.sent_at > now - window)) or 0
                    allowed = min(allowed, cap - recent)
            if allowed <= 0:
                return None
            due = (select(OutboxMessage.id)
                   .where(OutboxMessage.mailbox_id == mailbox_id)
                   .where(or_(and_(OutboxMessage.status.in_(WAITING),
                                   OutboxMessage.next_attempt_at <= now),
                              and_(OutboxMessage.status == OutboxStatus.SENDING.value,
                                   OutboxMessage.lease_until < now)))
                   .order_by(OutboxMessage.id).limit(allowed))
            if self._postgres:
                due = due.with_for_update(skip_locked=True)
            ids = list(s.scalars(due).all())
            if not ids:
                return None
            s.execute(update(OutboxMessage).where(OutboxMessage.id.in_(ids)).values(
                status=OutboxStatus.SENDING.value, claim_token=token,
                lease_until=now + dt.timedelta(seconds=self.policy.lease)))
        return Claim(token, mailbox_id, ids)

    # -- delivering --------------------------------------------------------------------

    def _deliver(self, claim: Claim) -> int:
        box = self.host.mailboxes.get(claim.mailbox_id)
        if box is None:
            return 0
        copy = "pending" if self.host.hook.sent_copier(self.host, box) is not None else None
        handled = 0
        rows = self._load(claim)
        remaining = [r.id for r in rows]
        try:
            connection = self.host.transport(box).open()
        except DeliveryError as error:
            if self._stopping():
                self._release(claim.token, remaining)
            else:
                self._connection_failed(claim, rows, error)
            return 0
        send_envelope = getattr(connection, "send_envelope", None)
        try:
            for row in rows:
                if self._stopping():
                    break  # SIGTERM: finish the message in hand, give the rest back
                remaining.pop(0)
                try:
                    if send_envelope is not None:
                        result = send_envelope(Envelope(
                            row.sender, list(row.recipients), row.content, row.message_id,
                            row.smtputf8))
                    else:
                        result = connection.send(email.message_from_bytes(
                            row.content, policy=email.policy.default))
                except DeliveryError as error:
                    if self._stopping() and not error.outcome_unknown:
                        # SIGTERM closed the connection before DATA: give it back, as if
                        # it had not been taken (no attempt counted)
                        self._release(claim.token, [row.id, *remaining])
                        remaining = []
                        break
                    outcome = outcome_of(error)
                    if outcome is Outcome.PAUSE:
                        self._pause(claim.mailbox_id, error)
                        self._release(claim.token, [row.id, *remaining])
                        remaining = []
                        break
                    self._failed(row, claim.token, error, outcome)
                    handled += 1
                    continue
                self._sent(row, claim.token, result.accepted, result.refused, copy)
                handled += 1
                self.sent += 1
                if self.progress:
                    self.progress(1)
                if remaining and self._lease_half_gone(claim):
                    self._renew(claim)
        finally:
            connection.close()
            if remaining:
                self._release(claim.token, remaining)
        if copy is not None and not self._stopping():
            self._file_copies(box.id)  # the copies, after the connection is closed
        return handled

    def _load(self, claim: Claim) -> list[Any]:
        """The claimed messages, read once (Core rows: cheaper than ORM objects)."""
        table = _TABLE
        columns = [table.c[name] for name in (
            "id", "sender", "recipients", "content", "message_id", "smtputf8", "attempts",
            "created_at")]
        with self.host.engine.connect() as conn:
            return list(conn.execute(select(*columns).where(
                table.c.id.in_(claim.ids), table.c.claim_token == claim.token,
                table.c.status == OutboxStatus.SENDING.value).order_by(table.c.id)))

    def _commit(self, outbox_id: int, token: str, **values: Any) -> bool:
        """Commit a result only while our claim holds (the claim check)."""
        table = _TABLE
        with self.host.engine.begin() as conn:
            result = conn.execute(update(table).where(
                table.c.id == outbox_id, table.c.claim_token == token,
                table.c.status == OutboxStatus.SENDING.value).values(
                claim_token=None, lease_until=None, **values))
            held = bool(result.rowcount)
        if not held:
            log.warning("outbox message %s: the claim was lost before its result was "
                        "committed", outbox_id)
        return held

    def _sent(self, row: Any, token: str, accepted: Sequence[str],
              refused: dict[str, str], copy: str | None = None) -> None:
        """The hot path: one prepared UPDATE per message, committed at once."""
        recipients = {a: {"status": "accepted"} for a in row.recipients}
        if refused:
            wire = {(ascii_address(a) or a): a for a in row.recipients}
            for address, reply in refused.items():
                recipients[wire.get(address, address)] = {"status": "refused", "reply": reply}
        with self.host.engine.begin() as conn:
            held = conn.execute(_SENT, {"oid": row.id, "token": token, "now": self.now(),
                                        "attempts": row.attempts + 1,
                                        "recipients": recipients, "copy": copy}).rowcount
        if not held:
            log.warning("outbox message %s: the claim was lost before its result was "
                        "committed", row.id)

    # -- the copy in Sent ----------------------------------------------------------------

    def _copies_due(self) -> list[int]:
        with self.host.sessions() as s:
            return list(s.scalars(select(OutboxMessage.mailbox_id).distinct().where(
                OutboxMessage.copy_status == "pending",
                OutboxMessage.copy_next_at <= self.now())).all())

    def _file_copies(self, mailbox_id: int, limit: int = 100) -> int:
        """File the due copies of one mailbox, one claim at a time (several workers never
        file the same copy at once; a crash in between is caught by the copier's look)."""
        box = self.host.mailboxes.get(mailbox_id)
        copier = self.host.hook.sent_copier(self.host, box) if box is not None else None
        if copier is None:  # switched off meanwhile: nothing is due any more
            with self.host.transaction() as s:
                s.execute(update(OutboxMessage).where(
                    OutboxMessage.mailbox_id == mailbox_id,
                    OutboxMessage.copy_status == "pending").values(copy_status=None))
            return 0
        done = 0
        try:
            while done < limit and not self._stopping():
                row = self._claim_copy(mailbox_id)
                if row is None:
                    break
                done += 1
                try:  # attempts are counted at the claim: a crash shows as one
                    copier.file(row.content, row.message_id,
                                as_utc(row.sent_at) or self.now(),
                                look_first=row.copy_attempts > 1)
                except DeliveryError as error:
                    if self._copy_failed(row, error):
                        break  # a mailbox-wide problem (login): filing waits, sending not
                    continue
                with self.host.transaction() as s:
                    s.execute(update(OutboxMessage).where(OutboxMessage.id == row.id).values(
                        copy_status="filed", copy_error=None))
        finally:
            copier.close()
        return done

    def _claim_copy(self, mailbox_id: int) -> Any:
        now = self.now()
        with self.host.transaction() as s:
            oid = s.scalar(select(OutboxMessage.id).where(
                OutboxMessage.mailbox_id == mailbox_id, OutboxMessage.copy_status == "pending",
                OutboxMessage.copy_next_at <= now).order_by(OutboxMessage.id).limit(1))
            if oid is None:
                return None
            result = s.execute(update(OutboxMessage).where(
                OutboxMessage.id == oid, OutboxMessage.copy_next_at <= now).values(
                copy_next_at=now + dt.timedelta(seconds=self.policy.lease),
                copy_attempts=OutboxMessage.copy_attempts + 1))
            if not getattr(result, "rowcount", 0):
                return None
            return s.execute(select(_TABLE.c.id, _TABLE.c.content, _TABLE.c.message_id,
                                    _TABLE.c.sent_at, _TABLE.c.copy_attempts)
                             .where(_TABLE.c.id == oid)).one()

    def _copy_failed(self, row: Any, error: DeliveryError) -> bool:
        now = self.now()
        attempts = row.copy_attempts  # counted at the claim
        record = error_record(error)
        later = now + dt.timedelta(seconds=self.policy.backoff(attempts))
        mailbox_wide = error.explanation is not None and \
            error.explanation.scope is Scope.MAILBOX
        with self.host.transaction() as s:
            s.execute(update(OutboxMessage).where(OutboxMessage.id == row.id).values(
                copy_error=record, copy_next_at=later,
                copy_status="failed" if attempts >= MAX_COPY_ATTEMPTS else "pending"))
            if mailbox_wide:
                s.execute(update(OutboxMessage).where(
                    OutboxMessage.mailbox_id == (select(OutboxMessage.mailbox_id).where(
                        OutboxMessage.id == row.id).scalar_subquery()),
                    OutboxMessage.copy_status == "pending").values(copy_next_at=later))
        return mailbox_wide

    def _failed(self, row: Any, token: str, error: DeliveryError,
                outcome: Outcome) -> None:
        now = self.now()
        attempts = row.attempts + 1
        record = error_record(error)
        too_old = now - as_utc(row.created_at) > self.policy.max_age
        if outcome is Outcome.DEFER and not too_old:
            self._commit(row.id, token, status=OutboxStatus.DEFERRED.value, attempts=attempts,
                         last_error=record, next_attempt_at=now + dt.timedelta(
                             seconds=self.policy.backoff(attempts)))
            return
        recipients = dict(row.recipients)
        if error.explanation is not None and error.explanation.scope is Scope.RECIPIENT:
            recipients = {a: {"status": "refused", "reply": record["reply"]}
                          for a in row.recipients}
        if too_old:
            record["expired"] = True
        self._commit(row.id, token, status=OutboxStatus.FAILED.value, attempts=attempts,
                     last_error=record, recipients=recipients)

    def _connection_failed(self, claim: Claim, rows: list[Any], error: DeliveryError) -> None:
        """The connection could not be opened: pause the mailbox, or defer the messages."""
        if outcome_of(error) is Outcome.PAUSE:
            self._pause(claim.mailbox_id, error)
            self._release(claim.token, [r.id for r in rows])
            return
        for row in rows:
            self._failed(row, claim.token, error, Outcome.DEFER)

    def _pause(self, mailbox_id: int, error: DeliveryError) -> None:
        explanation = error.explanation
        now = self.now()
        with self.host.transaction() as s:
            state = lock_queue(s, mailbox_id)
            state.pauses += 1
            if explanation is not None and explanation.retry_after_seconds:
                seconds = float(explanation.retry_after_seconds)
            elif explanation is not None and explanation.retry is Retry.LATER:
                seconds = self.policy.backoff(state.pauses)
            else:
                seconds = self.policy.pause_after_fix
            state.paused_until = now + dt.timedelta(seconds=seconds)
            state.reason = error_record(error)
        log.warning("mailbox %s paused for %.0f s: %s", mailbox_id, seconds,
                    explanation.id if explanation else error.failure.kind.value)

    def _release(self, token: str, ids: Sequence[int]) -> None:
        """Give claimed, unsent messages back to the queue as they were."""
        if not ids:
            return
        with self.host.transaction() as s:
            s.execute(update(OutboxMessage).where(
                OutboxMessage.id.in_(list(ids)), OutboxMessage.claim_token == token,
                OutboxMessage.status == OutboxStatus.SENDING.value).values(
                status=OutboxStatus.QUEUED.value, claim_token=None, lease_until=None))

    def _lease_half_gone(self, claim: Claim) -> bool:
        return time.monotonic() - claim.renewed_at > self.policy.lease / 2

    def _renew(self, claim: Claim) -> None:
        """A long batch keeps its claim: the lease is extended while we work."""
        claim.renewed_at = time.monotonic()
        with self.host.transaction() as s:
            s.execute(update(OutboxMessage).where(
                OutboxMessage.claim_token == claim.token,
                OutboxMessage.status == OutboxStatus.SENDING.value).values(
                lease_until=self.now() + dt.timedelta(seconds=self.policy.lease)))
