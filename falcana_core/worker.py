"""The outbox worker: delivers many mailboxes at once, each on its own connection.

Sending waits on the network (20-100 ms per SMTP command at real providers), so one
process keeps up to ``concurrency`` mailbox connections busy in threads. Threads, not
asyncio: the test e-mail, ``host.send`` and the outbox share one synchronous SMTP exchange
(its step log, deadlines, destination policy and explanations); a second, asynchronous
exchange would be a second code path to keep right. The processor work per message is
small, so the interpreter lock is not what limits a worker (benchmarks/outbox.py).

The guarantees of docs/outbox.md hold per connection:

* a claim (up to a batch of one mailbox's due messages) is taken under a row lock of the
  mailbox's queue, with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, and held under a short
  lease that a heartbeat renews; a worker that dies releases its claims within one lease;
* a claim whose lease could not be renewed is given up before it runs out: its connection
  is aborted and its messages not sent, so no two workers ever send for one claim;
* each result is committed while the claim holds, before the next message of that
  connection is sent; results of different connections share a commit (group commit), so
  a crash can duplicate at most one message per open connection, with the same Message-ID.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import logging
import random
import secrets
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Integer, Table, bindparam, func, select, union_all, update
from sqlalchemy.exc import DBAPIError

from falcana_core import after_delivery as steps_after
from falcana_core.addresses import ascii_address
from falcana_core.delivery import Retry, Scope
from falcana_core.mailbox_health import Verifies
from falcana_core.models import Mailbox, MailboxQueue, OutboxMessage, OutboxStatus, utcnow
from falcana_core.net.cancellation import cancellation
from falcana_core.outbox import (
    DEFAULT_LIMITS,
    WAITING,
    OutboxPolicy,
    Outcome,
    as_utc,
    error_record,
    insert_queue_row,
    lock_queue,
    outcome_of,
)
from falcana_core.transports import (
    Connection,
    DeliveryError,
    Envelope,
    Limits,
    SendResult,
)

if TYPE_CHECKING:
    from sqlalchemy import Connection as SAConnection
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session

    from falcana_core.duties import Duty
    from falcana_core.host import Host

log = logging.getLogger(__name__)
SEND, FOLLOW = "send", "follow"  # the kinds of a mailbox's work
DUTY = "duty:"  # a duty: "duty:<its name>" (falcana_core/duties.py)
LOOK_AGAIN = 0.25  # seconds between looks for new work while a pass (--once) runs
T = TypeVar("T")

SENDING = OutboxStatus.SENDING.value
_TABLE: Table = OutboxMessage.__table__  # type: ignore[assignment]
#: Built once: statement construction costs more than SQLite's commit on the hot path.
_SENT = update(_TABLE).where(
    _TABLE.c.id == bindparam("oid"), _TABLE.c.claim_token == bindparam("token"),
    _TABLE.c.status == SENDING,
).values(status=OutboxStatus.SENT.value, sent_at=bindparam("now"),
         attempts=bindparam("attempts"), recipients=bindparam("recipients"),
         claim_token=None, lease_until=None)


def _due_statements() -> tuple[Any, Any, Any]:
    """The claim's and the pass's queries, built once with parameters (building and
    compiling a union costs more than running it)."""
    t = _TABLE
    mailbox: Any = bindparam("mailbox")
    now: Any = bindparam("now")  # typed by the column it is compared with
    n = bindparam("n", type_=Integer)
    branches = [
        select(t.c.id).where(t.c.mailbox_id == mailbox, t.c.status == status,
                             t.c.next_attempt_at <= now)
        .order_by(t.c.next_attempt_at).limit(n).subquery()
        for status in WAITING
    ]
    branches.append(select(t.c.id).where(
        t.c.mailbox_id == mailbox, t.c.status == SENDING, t.c.lease_until < now)
        .limit(n).subquery())
    due = union_all(*(select(b.c.id) for b in branches)).subquery()
    oldest = select(due.c.id).order_by(due.c.id).limit(n)
    # PostgreSQL: skip rows another transaction holds (a result being committed, an
    # admin's cancel); the conditions are checked again on the rows locked
    locked = (select(t.c.id).where(t.c.id.in_(oldest.scalar_subquery()))
              .where((t.c.status.in_(WAITING) & (t.c.next_attempt_at <= now))
                     | ((t.c.status == SENDING) & (t.c.lease_until < now)))
              .order_by(t.c.id).with_for_update(skip_locked=True))
    everywhere = union_all(
        select(t.c.mailbox_id).where(t.c.status.in_(WAITING), t.c.next_attempt_at <= now),
        select(t.c.mailbox_id).where(t.c.status == SENDING, t.c.lease_until < now),
    ).subquery()
    per_mailbox = select(everywhere.c.mailbox_id, func.count()).group_by(
        everywhere.c.mailbox_id)
    return oldest, locked, per_mailbox


_DUE, _DUE_LOCKED, _DUE_PER_MAILBOX = _due_statements()
_PAUSED = select(MailboxQueue.mailbox_id).where(MailboxQueue.paused_until > bindparam("now"))
#: claims of a mailbox whose lease still holds: its open connections, in all workers
_CONNECTIONS = select(func.count(func.distinct(_TABLE.c.claim_token))).where(
    _TABLE.c.mailbox_id == bindparam("mailbox"), _TABLE.c.status == SENDING,
    _TABLE.c.lease_until >= bindparam("now"))
_RECENT = select(func.count()).where(_TABLE.c.mailbox_id == bindparam("mailbox"),
                                     _TABLE.c.sent_at > bindparam("since"))
_QUEUE = select(MailboxQueue.paused_until).where(
    MailboxQueue.mailbox_id == bindparam("mailbox"))
_QUEUE_LOCKED = _QUEUE.with_for_update()
_TAKE = update(_TABLE).where(_TABLE.c.id.in_(bindparam("ids", expanding=True))).values(
    status=SENDING, claim_token=bindparam("token"), lease_until=bindparam("until"))
#: SQLite: the rows read as due are taken only if they still are (an admin's cancel)
_TAKE_DUE = _TAKE.where(
    (_TABLE.c.status.in_(WAITING) & (_TABLE.c.next_attempt_at <= bindparam("now")))
    | ((_TABLE.c.status == SENDING) & (_TABLE.c.lease_until < bindparam("now")))
).returning(_TABLE.c.id)


@dataclasses.dataclass
class Claim:
    """Messages of one mailbox claimed by one connection of this worker."""

    token: str
    mailbox_id: int
    ids: list[int]
    lease: float
    renewed_at: float = dataclasses.field(default_factory=time.monotonic)
    thread: int = dataclasses.field(default_factory=threading.get_ident)
    #: steps after delivery being done (``ids`` holds their messages): their duty
    after: str | None = None
    lost: bool = False  # its messages were found in another's hands: send no more of them
    delivered: int = 0  # of its messages, accepted by the server
    #: the messages not yet done with (the heartbeat checks each is still ours)
    open_ids: set[int] = dataclasses.field(default_factory=set)

    def __post_init__(self) -> None:
        self.open_ids = set(self.ids)

    def left(self) -> float:
        """Seconds until the lease runs out, as far as this worker knows."""
        return self.renewed_at + self.lease - time.monotonic()


class GroupCommit:
    """Results of concurrent deliveries share a transaction.

    A thread that hands in a result waits until it is committed; the first to arrive while
    no commit runs commits everything handed in meanwhile (leader and followers). One
    connection alone pays a commit per message as before; twenty connections pay about
    one commit per round of twenty messages. Each row keeps its own claim check."""

    def __init__(self, engine: Engine,
                 turn: AbstractContextManager[Any] | None = None) -> None:
        self.engine = engine
        self._turn = turn or nullcontext()
        self._lock = threading.Condition()
        self._pending: list[_Result] = []
        self._leading = False
        self._conn: SAConnection | None = None
        self.commits = 0  # for the benchmark: results / commits is the sharing

    def sent(self, params: dict[str, Any], after: Sequence[dict[str, Any]] = ()) -> bool:
        """Commit one ``_SENT`` update and, while the claim held, the steps ``after``
        delivery it leaves due (in the same transaction); True when the claim held."""
        item = _Result(params, after)
        with self._lock:
            self._pending.append(item)
            while not item.done:
                if self._leading:
                    self._lock.wait()
                    continue
                self._leading = True
                batch, self._pending = self._pending, []
                self._lock.release()
                try:
                    self._write(batch)
                finally:
                    self._lock.acquire()
                    self._leading = False
                    for done in batch:
                        done.done = True
                    self._lock.notify_all()
        if item.error is not None:
            raise item.error
        return item.held

    def _write(self, batch: list[_Result]) -> None:
        # rows in id order: transactions that lock several rows (the heartbeat's renewal)
        # take them in the same order, so they wait for each other instead of deadlocking
        batch = sorted(batch, key=lambda item: int(item.params["oid"]))
        error: BaseException | None = None
        for _attempt in range(3):
            try:
                with self._turn:
                    conn = self._connection()
                    with conn.begin():
                        for item in batch:
                            item.held = bool(conn.execute(_SENT, item.params).rowcount)
                        steps = [row for item in batch if item.held for row in item.after]
                        if steps:
                            conn.execute(steps_after.RECORD, steps)
                self.commits += 1
                return
            except DBAPIError as exc:
                self.close()
                error = exc
                # the connection was lost (a database restart), or PostgreSQL broke a
                # deadlock: the claim check makes the updates safe to repeat
                if not (exc.connection_invalidated or may_retry(exc)):
                    break
            except Exception as exc:
                self.close()
                error = exc
                break
        for item in batch:  # every result of the batch is unrecorded
            item.held, item.error = False, error

    def _connection(self) -> SAConnection:
        """One connection kept for the results: no pool check-out (and on PostgreSQL no
        ping) per message; the lock held by the leader makes it one user at a time."""
        if self._conn is None:
            self._conn = self.engine.connect()
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None


def may_retry(exc: DBAPIError) -> bool:
    """A deadlock or serialization failure (PostgreSQL 40P01, 40001): the transaction was
    rolled back as a whole and may be run again."""
    return getattr(exc.orig, "sqlstate", None) in {"40P01", "40001"}


def retrying(write: Callable[[], T]) -> T:
    """Run a short write transaction, again (up to three times) if PostgreSQL rolled it
    back to break a deadlock: every write of the worker carries its claim check, so
    repeating one is safe."""
    for attempt in range(3):
        try:
            return write()
        except DBAPIError as exc:
            if attempt == 2 or not may_retry(exc):
                raise
    raise AssertionError("unreachable")


@dataclasses.dataclass
class _Result:
    params: dict[str, Any]
    after: Sequence[dict[str, Any]]
    done: bool = False
    held: bool = False
    error: BaseException | None = None


class Worker:
    """Delivers due messages, ``concurrency`` mailbox connections at a time. Several
    workers may share a PostgreSQL queue."""

    def __init__(self, host: Host, *, policy: OutboxPolicy | None = None,
                 clock: Callable[[], dt.datetime] = utcnow,
                 progress: Callable[[int], None] | None = None,
                 concurrency: int | None = None) -> None:
        self.host = host
        self.policy = policy or OutboxPolicy.for_host(host)
        self.now = clock
        self.progress = progress
        self.concurrency = max(1, concurrency or host.config.worker_concurrency)
        self.sent = 0
        self.duties: Counter[str] = Counter()  # duties done, by name (the verifies too)
        self._duties: dict[str, Duty] = {}
        self._postgres = host.engine.dialect.name == "postgresql"
        self._limits: dict[int, tuple[float, Limits]] = {}
        self._stop: threading.Event | None = None
        self._claiming = threading.RLock()  # this process's claims, one at a time
        # SQLite has one writer at a time, and a writer that finds the database locked
        # sleeps in steps of up to 100 ms: this process's threads take turns instead
        self._turn: AbstractContextManager[Any] = (
            nullcontext() if self._postgres else threading.RLock())
        self.commits = GroupCommit(host.engine, self._turn)
        self._held: dict[str, Claim] = {}  # the heartbeat renews these
        self._held_lock = threading.Lock()
        self._counting = threading.Lock()
        self.after = steps_after.StepsAfterDelivery(host, self.policy, self.now, self._turn,
                                                    self._stopping, self._hold_step)

    @property
    def checked(self) -> int:
        """Mailboxes verified (falcana_core/mailbox_health.py)."""
        return self.duties[Verifies.name]

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
        if stop is not None:
            self._stop = stop
        handled = 0
        with self._running() as pool:
            while not self._stopping():
                done = self._drain(pool, poll=None if once else poll)
                handled += done
                if once and done == 0:
                    break
                if done == 0 and self._stop is not None:
                    self._stop.wait(poll)
                elif done == 0:
                    time.sleep(poll)
        return handled

    def run_once(self) -> int:
        """Everything due now (messages, and the steps after delivery), concurrently;
        returns when nothing more can be claimed."""
        with self._running() as pool:
            return self._drain(pool, poll=None)

    @contextmanager
    def _running(self) -> Iterator[ThreadPoolExecutor]:
        # the core's verifies (FALCANA_HEALTH_EVERY), then the plugins' duties
        # (FALCANA_WORKER_DUTIES): the same mechanism
        duties: list[Duty] = [Verifies(self.host)] if self.host.health.every else []
        if self.host.config.worker_duties:
            duties += self.host.hook.worker_duties(self.host)
        self._duties = {f"{DUTY}{d.name}": d for d in duties}
        beat = threading.Event()
        heart = threading.Thread(target=self._heartbeat, args=(beat,), daemon=True,
                                 name="falcana-heartbeat")
        heart.start()
        pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="falcana-deliver")
        try:
            yield pool
        finally:
            pool.shutdown(wait=True)
            beat.set()
            heart.join()
            self.commits.close()

    def _drain(self, pool: ThreadPoolExecutor, *, poll: float | None) -> int:
        """Keep up to ``concurrency`` connections busy until nothing is left to claim.

        A mailbox that had nothing more to send (drained, at its limit, paused) is not
        offered again in this pass; with ``poll`` (a running worker) it is offered again
        after that many seconds, and the pass ends when nothing is in hand. A mailbox's
        steps after delivery (its copies in Sent) are work of their own, in a slot left
        free by sending, beside its sending, whenever some are due."""
        running: dict[Future[int], tuple[str, int]] = {}
        active: Counter[int] = Counter()
        following: set[int] = set()  # mailboxes whose steps after delivery are in hand
        #: duties in hand or done in this pass (falcana_core/duties.py)
        doing: set[tuple[str, int]] = set()
        rested: dict[int, float] = {}  # mailbox -> when it may be offered again
        idle: dict[int, float] = {}  # the same for steps after delivery that found none
        offered: deque[tuple[str, int]] = deque()  # looked up once, handed out as slots free
        handled: Counter[str] = Counter()
        while True:
            if not self._stopping():
                now = time.monotonic()
                rested = {m: t for m, t in rested.items() if t > now}
                idle = {m: t for m, t in idle.items() if t > now}
                if not offered:
                    offered.extend(self._wanted(active, rested, following | set(idle),
                                                doing))
                while offered and len(running) < self.concurrency:
                    kind, mailbox_id = offered.popleft()
                    if kind == SEND and mailbox_id not in rested:
                        active[mailbox_id] += 1
                        running[pool.submit(self._serve, mailbox_id)] = (kind, mailbox_id)
                    elif kind == FOLLOW and mailbox_id not in following:
                        following.add(mailbox_id)
                        running[pool.submit(self._follow, mailbox_id)] = (kind, mailbox_id)
                    elif kind.startswith(DUTY) and (kind, mailbox_id) not in doing:
                        doing.add((kind, mailbox_id))
                        running[pool.submit(self._duty, kind, mailbox_id)] = (kind,
                                                                              mailbox_id)
            if not running:  # messages handled; else the steps done (a pass did something)
                return handled[SEND] or handled[FOLLOW]
            # look again now and then: steps after delivery fall due while mail is sent
            done, _pending = wait(list(running), timeout=poll or LOOK_AGAIN,
                                  return_when=FIRST_COMPLETED)
            for future in done:
                kind, mailbox_id = running.pop(future)
                if kind == SEND:
                    active[mailbox_id] -= 1
                    rested[mailbox_id] = time.monotonic() + (poll or float("inf"))
                elif kind.startswith(DUTY):
                    pass  # kept in ``doing``: once a pass, whatever the duty's next time
                else:
                    following.discard(mailbox_id)
                try:
                    done_here = future.result()
                except Exception:  # one mailbox's fault must not stop the others
                    log.exception("mailbox %s: delivery stopped by an unexpected error; "
                                  "its messages return to the queue", mailbox_id)
                    done_here = 0
                handled[kind] += done_here
                if kind == FOLLOW and not done_here:  # due, yet none could be done
                    idle[mailbox_id] = time.monotonic() + (poll or float("inf"))

    def _wanted(self, active: Counter[int], rested: dict[int, float],
                following: set[int], doing: set[tuple[str, int]]) -> list[tuple[str, int]]:
        """Work to start: a connection for every mailbox with due mail, then a second and
        third where the backlog and the provider's limit allow it; then the steps after
        delivery of mailboxes that have due ones and none in hand; last, the duties due
        (the verifies, the plugins'), a few at a time."""
        due = self._mailboxes_due()
        rounds: list[list[int]] = [[]]
        for mailbox_id, backlog in due.items():
            if mailbox_id in rested:
                continue
            wanted = -(-backlog // self.policy.batch)  # batches waiting
            if wanted > 1:  # more than one connection: as far as the provider allows
                wanted = min(wanted, self.limits(mailbox_id).max_connections or 1)
            wanted -= active[mailbox_id]
            for i in range(max(0, wanted)):
                while len(rounds) <= i:
                    rounds.append([])
                rounds[i].append(mailbox_id)
        out: list[tuple[str, int]] = []
        for round_ in rounds:
            random.shuffle(round_)  # several workers: start at different mailboxes
            out.extend((SEND, m) for m in round_)
        # beside a mailbox's sending only a full batch (fewer, larger APPENDs); the rest
        # when its sending is done
        after = [m for m, steps in self.after.due_mailboxes().items() if m not in following
                 and (not active[m] or steps >= self.policy.batch)]
        random.shuffle(after)
        out.extend((FOLLOW, m) for m in after)
        for kind, duty in self._duties.items():
            if self._stopping():
                break
            try:
                found = duty.due(self.now(), self.concurrency)
            except Exception:  # one plugin's fault must not stop the worker
                log.exception("duty %s: what is due could not be found", duty.name)
                continue
            out.extend((kind, m) for m in found if (kind, m) not in doing)
        return out

    def _mailboxes_due(self) -> dict[int, int]:
        """Mailboxes with due messages and how many, paused ones left out."""
        now = self.now()
        with self.host.engine.connect() as conn:
            counts: dict[int, int] = {m: n for m, n in conn.execute(
                _DUE_PER_MAILBOX, {"now": now})}
            if counts:
                paused = set(conn.scalars(_PAUSED, {"now": now}))
                counts = {m: n for m, n in counts.items() if m not in paused}
        return counts

    # -- one connection's work -----------------------------------------------------------

    def _serve(self, mailbox_id: int) -> int:
        """One connection of one mailbox: claim a batch, send it, claim the next, until
        nothing more is due. Each message sent gets its steps after delivery recorded."""
        box = self.host.mailboxes.get(mailbox_id)
        if box is None:
            return 0
        duties = self.host.hook.after_delivery(self.host, box)
        after = [d.duty for d in duties]
        for duty in duties:
            duty.close()  # only their names are needed here
        handled = delivered = 0
        connection: Connection | None = None
        try:
            while not self._stopping():
                claim = self._claim(mailbox_id)
                if claim is None:
                    break
                try:
                    done, connection, go_on = self._deliver(claim, box, connection, after)
                finally:
                    with self._held_lock:
                        self._held.pop(claim.token, None)
                handled += done
                delivered += claim.delivered
                if not go_on or len(claim.ids) < self.policy.batch:
                    break  # a short batch: nothing more was due (a later pass looks again)
        finally:
            if connection is not None:
                connection.close()
        if delivered and self.host.health.every:
            self.host.health.proved(mailbox_id, self.now())
        return handled

    def _duty(self, kind: str, mailbox_id: int) -> int:
        """A duty for one mailbox, if no other worker took it first."""
        duty = self._duties[kind]
        now = self.now()
        if not duty.claim(mailbox_id, now, self.policy.lease * 4):
            return 0
        box = self.host.mailboxes.get(mailbox_id)
        if box is None:
            return 0
        done = duty.run(box, now, self._stopping)
        with self._counting:
            self.duties[duty.name] += 1
        return done

    def _follow(self, mailbox_id: int) -> int:
        """A mailbox's due steps after delivery, over connections of their own (the
        copy in Sent: one IMAP connection for all of them)."""
        box = self.host.mailboxes.get(mailbox_id)
        if box is None or self._stopping():
            return 0
        return self.after.run(box, self.host.hook.after_delivery(self.host, box))

    # -- claiming ----------------------------------------------------------------------

    def limits(self, mailbox_id: int) -> Limits:
        """The limits the mailbox's transport declares (its provider's), else the
        defaults; remembered for five minutes."""
        cached = self._limits.get(mailbox_id)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        box = self.host.mailboxes.get(mailbox_id)
        declared = self.host.transport(box).limits() if box is not None else None
        limits = DEFAULT_LIMITS if declared is None else dataclasses.replace(
            declared,
            max_connections=declared.max_connections or DEFAULT_LIMITS.max_connections)
        self._limits[mailbox_id] = (time.monotonic() + 300, limits)
        return limits

    def _claim(self, mailbox_id: int) -> Claim | None:
        """Claim up to a batch of due messages of one mailbox, within its limits."""
        limits = self.limits(mailbox_id)
        token = secrets.token_hex(16)
        ids = retrying(lambda: self._take(mailbox_id, limits, token))
        if not ids:
            return None
        claim = Claim(token, mailbox_id, ids, self.policy.lease)
        with self._held_lock:
            self._held[token] = claim
        return claim

    def _take(self, mailbox_id: int, limits: Limits, token: str) -> list[int]:
        """The claim's transaction: the ids taken (none: paused, at a limit, nothing due).

        PostgreSQL: one transaction under the mailbox's queue row lock, so claims of one
        mailbox in all workers take turns. SQLite (one worker process): this process's
        claims take turns on a lock; the reads run outside the write transaction, which
        then holds the database only for the UPDATE, checking again that each row is due."""
        if self._postgres:
            with self._claiming, self.host.engine.begin() as conn:
                now = self.now()
                paused_until = self._lock_queue(conn, mailbox_id)
                allowed = self._allowance(conn, mailbox_id, limits, now, paused_until)
                ids = self._due_ids(conn, mailbox_id, now, allowed) if allowed else []
                if ids:
                    conn.execute(_TAKE, {"ids": ids, "token": token,
                                         "until": now + dt.timedelta(
                                             seconds=self.policy.lease)})
                return ids
        with self._claiming:
            with self.host.engine.connect() as conn:
                now = self.now()
                paused_until = conn.scalar(_QUEUE, {"mailbox": mailbox_id})
                allowed = self._allowance(conn, mailbox_id, limits, now, paused_until)
                ids = self._due_ids(conn, mailbox_id, now, allowed) if allowed else []
                conn.rollback()
            if not ids:
                return []
            with self._turn, self.host.engine.begin() as conn:
                return sorted(conn.scalars(_TAKE_DUE, {
                    "ids": ids, "token": token, "now": now,
                    "until": now + dt.timedelta(seconds=self.policy.lease)}))

    def _allowance(self, conn: SAConnection, mailbox_id: int, limits: Limits,
                   now: dt.datetime, paused_until: dt.datetime | None) -> int:
        """How many messages this claim may take: none while paused or at the provider's
        connection limit; else a batch, less what its rate limits leave."""
        if paused_until is not None and as_utc(paused_until) > now:
            return 0
        sending = conn.scalar(_CONNECTIONS, {"mailbox": mailbox_id, "now": now}) or 0
        if limits.max_connections and sending >= limits.max_connections:
            return 0
        allowed = self.policy.batch
        for window, cap in ((dt.timedelta(minutes=1), limits.messages_per_minute),
                            (dt.timedelta(days=1), limits.messages_per_day)):
            if cap:
                recent = conn.scalar(_RECENT, {"mailbox": mailbox_id,
                                               "since": now - window}) or 0
                allowed = min(allowed, cap - recent)
        return max(0, allowed)

    def _lock_queue(self, conn: SAConnection, mailbox_id: int) -> dt.datetime | None:
        """PostgreSQL: lock the mailbox's queue row (claims of one mailbox one at a time,
        in every worker) and say until when it is paused."""
        row = conn.execute(_QUEUE_LOCKED, {"mailbox": mailbox_id}).first()
        if row is None:  # first claim of this mailbox: create its row (or find another's)
            conn.execute(insert_queue_row("postgresql"), {
                "mailbox_id": mailbox_id, "pauses": 0, "updated_at": utcnow()})
            row = conn.execute(_QUEUE_LOCKED, {"mailbox": mailbox_id}).first()
        return row.paused_until if row is not None else None

    def _due_ids(self, s: SAConnection, mailbox_id: int, now: dt.datetime,
                 allowed: int) -> list[int]:
        """The oldest due messages of a mailbox: each status is one range of the index
        (mailbox, status, next attempt), read only as far as the batch needs, so the cost
        does not grow with the mailbox's delivered history or its backlog."""
        query = _DUE_LOCKED if self._postgres else _DUE
        return list(s.scalars(query, {"mailbox": mailbox_id, "now": now, "n": allowed}))

    # -- the lease and its heartbeat -------------------------------------------------------

    def _heartbeat(self, beat: threading.Event) -> None:
        """Renew the leases of every claim in hand, a third of a lease apart; a claim that
        could not be renewed in time has its connection aborted before the lease runs out
        (another worker may take it then)."""
        interval = self.policy.lease / 3
        while not beat.wait(interval):
            with self._held_lock:
                claims = list(self._held.values())
            if not claims:
                continue
            try:
                self._renew(claims)
            except Exception as exc:
                log.warning("the outbox leases could not be renewed: %s",
                            exc.__class__.__name__)
            for claim in claims:
                if claim.left() < interval:
                    log.warning("mailbox %s: the claim could not be renewed; its "
                                "connection is stopped", claim.mailbox_id)
                    cancellation.abort_thread(claim.thread)

    def _renew(self, claims: Sequence[Claim]) -> None:
        started = time.monotonic()
        t = _TABLE
        until = self.now() + dt.timedelta(seconds=self.policy.lease)
        sending = [c.token for c in claims if c.after is None]
        following = [(oid, c.after) for c in claims if c.after is not None
                     for oid in c.ids]

        def renew() -> set[int]:
            with self._turn, self.host.engine.begin() as conn:
                done: set[int] = set()
                if sending:
                    # locked in id order, as the results are committed (no deadlock)
                    ids = list(conn.scalars(select(t.c.id).where(
                        t.c.claim_token.in_(sending), t.c.status == SENDING,
                    ).order_by(t.c.id).with_for_update()))
                    done = set(conn.scalars(update(t).where(
                        t.c.id.in_(ids), t.c.claim_token.in_(sending), t.c.status == SENDING,
                    ).values(lease_until=until).returning(t.c.id))) if ids else set()
                if following:
                    self.after.renew(conn, following, until)
                return done

        renewed = retrying(renew)
        for claim in claims:
            claim.renewed_at = started
            if claim.after is None and set(claim.open_ids) - renewed and self._holds(claim):
                claim.lost = True
                log.warning("mailbox %s: messages claimed by this worker are in another's "
                            "hands; it sends no more of them", claim.mailbox_id)

    def _holds(self, claim: Claim) -> bool:
        """Still in hand: a claim whose messages were all sent just now is not lost."""
        with self._held_lock:
            return claim.token in self._held

    # -- delivering --------------------------------------------------------------------

    def _deliver(self, claim: Claim, box: Mailbox, connection: Connection | None,
                 after: list[str]) -> tuple[int, Connection | None, bool]:
        """Send one claim's messages; returns (handled, the connection, go on?)."""
        handled = 0
        rows = self._load(claim)
        remaining = [r.id for r in rows]
        claim.open_ids = set(remaining)
        if connection is None and rows:
            try:
                connection = self.host.transport(box).open()
            except DeliveryError as error:
                if self._stopping():
                    self._release(claim.token, remaining)
                else:
                    self._connection_failed(claim, rows, error)
                return 0, None, False
        go_on = True
        try:
            for row in rows:
                if self._stopping() or claim.lost or claim.left() < self.policy.lease / 3:
                    go_on = False  # SIGTERM, or the lease not renewed: give the rest back
                    break
                remaining.pop(0)
                assert connection is not None
                try:
                    result = self._send(connection, row)
                except DeliveryError as error:
                    if (self._stopping() or claim.left() <= 0) and not error.outcome_unknown:
                        # closed by us before DATA: give it back, as if it had not been
                        # taken (no attempt counted)
                        remaining.insert(0, row.id)
                        go_on = False
                        break
                    claim.open_ids.discard(row.id)
                    outcome = outcome_of(error)
                    if outcome is Outcome.PAUSE:
                        self._pause(claim.mailbox_id, error)
                        remaining.insert(0, row.id)
                        go_on = False
                        break
                    self._failed(row, claim.token, error, outcome)
                    handled += 1
                    continue
                claim.open_ids.discard(row.id)  # before its commit: the heartbeat looks
                self._sent(row, claim, result, after)
                handled += 1
        finally:
            if remaining:
                self._release(claim.token, remaining)
        return handled, connection, go_on

    @staticmethod
    def _send(connection: Connection, row: Any) -> SendResult:
        return connection.send_envelope(Envelope(
            row.sender, list(row.recipients), row.content, row.message_id, row.smtputf8))

    def _load(self, claim: Claim) -> list[Any]:
        """The claimed messages, read once (Core rows: cheaper than ORM objects)."""
        table = _TABLE
        columns = [table.c[name] for name in (
            "id", "sender", "recipients", "content", "message_id", "smtputf8", "attempts",
            "created_at")]
        with self.host.engine.connect() as conn:
            return list(conn.execute(select(*columns).where(
                table.c.id.in_(claim.ids), table.c.claim_token == claim.token,
                table.c.status == SENDING).order_by(table.c.id)))

    def _commit(self, outbox_id: int, token: str, **values: Any) -> bool:
        """Commit a result only while our claim holds (the claim check)."""
        table = _TABLE

        def commit() -> bool:
            with self._turn, self.host.engine.begin() as conn:
                return bool(conn.execute(update(table).where(
                    table.c.id == outbox_id, table.c.claim_token == token,
                    table.c.status == SENDING).values(
                    claim_token=None, lease_until=None, **values)).rowcount)

        held = retrying(commit)
        if not held:
            log.warning("outbox message %s: the claim was lost before its result was "
                        "committed", outbox_id)
        return held

    def _sent(self, row: Any, claim: Claim, result: SendResult, after: list[str]) -> None:
        """The hot path: one prepared UPDATE per message, committed before the connection
        sends its next message (shared with the results of other connections)."""
        recipients = {a: {"status": "accepted"} for a in row.recipients}
        if result.refused:
            wire = {(ascii_address(a) or a): a for a in row.recipients}
            for address, reply in result.refused.items():
                recipients[wire.get(address, address)] = {"status": "refused", "reply": reply}
        now = self.now()
        held = self.commits.sent({"oid": row.id, "token": claim.token, "now": now,
                                  "attempts": row.attempts + 1, "recipients": recipients},
                                 steps_after.records(row.id, claim.mailbox_id, after, now))
        if not held:
            log.warning("outbox message %s: the claim was lost before its result was "
                        "committed", row.id)
        claim.delivered += 1
        with self._counting:
            self.sent += 1
        if self.progress:
            self.progress(1)

    # -- steps after delivery ---------------------------------------------------------

    def _hold_step(self, outbox_ids: Sequence[int], mailbox_id: int,
                   duty: str) -> Callable[[], None]:
        """The heartbeat renews these steps' leases until the returned function is
        called."""
        held = Claim(f"{duty}:{outbox_ids[0]}", mailbox_id, list(outbox_ids),
                     self.policy.lease, after=duty)
        with self._held_lock:
            self._held[held.token] = held

        def release() -> None:
            with self._held_lock:
                self._held.pop(held.token, None)

        return release

    # -- failures ------------------------------------------------------------------------

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
        with self._turn, self.host.transaction() as s:
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
            others = self._same_domain(s, mailbox_id) \
                if explanation is not None and explanation.scope is Scope.DOMAIN else []
            for other in others:  # the organisation's limit: its mailboxes wait together
                queue = lock_queue(s, other)
                if queue.paused_until is None or as_utc(queue.paused_until) < \
                        state.paused_until:
                    queue.paused_until, queue.reason = state.paused_until, state.reason
        log.warning("mailbox %s paused for %.0f s: %s", mailbox_id, seconds,
                    explanation.id if explanation else error.failure.kind.value)
        if others:
            log.warning("%d more mailboxes of the same domain paused with it", len(others))
        if self.host.health.every:
            self.host.health.failed(mailbox_id, error, now)

    @staticmethod
    def _same_domain(s: Session, mailbox_id: int) -> list[int]:
        """The other mailboxes whose address has the domain of this one's."""
        address = s.scalar(select(Mailbox.address).where(Mailbox.id == mailbox_id)) or ""
        domain = address.rpartition("@")[2].lower()
        if not domain:
            return []
        return list(s.scalars(select(Mailbox.id).where(
            func.lower(Mailbox.address).endswith("@" + domain, autoescape=True),
            Mailbox.id != mailbox_id)
            .order_by(Mailbox.id)))

    def _release(self, token: str, ids: Sequence[int]) -> None:
        """Give claimed, unsent messages back to the queue as they were."""
        if not ids:
            return

        def release() -> None:
            with self._turn, self.host.transaction() as s:
                s.execute(update(OutboxMessage).where(
                    OutboxMessage.id.in_(sorted(ids)), OutboxMessage.claim_token == token,
                    OutboxMessage.status == SENDING).values(
                    status=OutboxStatus.QUEUED.value, claim_token=None, lease_until=None))

        retrying(release)
