"""Looking at a mailbox's inbox, reading its reports, tying each to the message this
mailbox sent, recording the recipient's outcome and telling the host application.

A report is tied by the Message-ID of the returned message (what we sent), else by its
References / In-Reply-To (an auto-reply), else by recipient and time: only when the
report names no Message-ID at all (one that names another message is about that one).
Only this mailbox's messages are looked at, never another's. A report that is tied to
nothing is kept (it was in this mailbox's inbox) but changes no message.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from falcana_bounces.api_readers import (
    READERS,
    Fetched,
    ReadFailed,
    api_for,
    reading_transports,
)
from falcana_bounces.i18n import _
from falcana_bounces.inbox import FIRST_LOOK_DAYS, Seen, deadline_in, read_inbox
from falcana_bounces.models import BounceReport, InboxCursor
from falcana_bounces.reports import MAX_TEXT, Kind, Report, read_report
from falcana_core.api import current_language, text_in, utcnow

if TYPE_CHECKING:
    from falcana_oauth import OAuthApi

    from falcana_core.api import Host, Mailbox

log = logging.getLogger(__name__)

#: the window in which a report without a Message-ID is tied by its recipient
RECIPIENT_WINDOW = dt.timedelta(days=FIRST_LOOK_DAYS)
#: the recipient's status in the outbox for each class of report
STATUS = {Kind.HARD: "bounced_hard", Kind.SOFT: "bounced_soft", Kind.POLICY: "bounced_policy",
          Kind.DELAYED: "delayed", Kind.AUTO_REPLY: "auto_reply", Kind.DELIVERED: "delivered"}
#: statuses a later report of this class does not replace (a hard bounce is not undone
#: by an auto-reply; a success after a soft bounce or a delay is kept)
KEEPS: dict[Kind, set[str]] = {
    Kind.HARD: set(), Kind.POLICY: {"bounced_hard"},
    Kind.SOFT: {"bounced_hard", "bounced_policy"},
    Kind.DELAYED: {"bounced_hard", "bounced_policy", "bounced_soft", "delivered"},
    Kind.AUTO_REPLY: {"bounced_hard", "bounced_policy", "bounced_soft"},
    Kind.DELIVERED: {"bounced_hard", "bounced_policy"}}


@dataclasses.dataclass(frozen=True)
class Outcome:
    """One recipient's outcome as a report told it (the hooks' argument)."""

    outbox_id: int | None
    recipient: str
    kind: Kind
    status: str | None
    diagnostic: str
    matched_by: str | None  # message_id | references | recipient | None
    reported_at: dt.datetime | None
    format: str

    def as_dict(self) -> dict[str, Any]:
        found = dataclasses.asdict(self)
        found["kind"] = self.kind.value
        found["reported_at"] = self.reported_at.isoformat() if self.reported_at else None
        return found


@dataclasses.dataclass
class Look:
    """What one look at a mailbox's inbox found."""

    mailbox_id: int
    looked_at: int = 0
    outcomes: list[Outcome] = dataclasses.field(default_factory=list)
    too_large: int = 0
    failure: dict[str, Any] | None = None
    steps: list[Any] = dataclasses.field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.failure is None

    def as_dict(self) -> dict[str, Any]:
        return {"mailbox_id": self.mailbox_id, "ok": self.ok, "looked_at": self.looked_at,
                "too_large": self.too_large, "failure": self.failure,
                "outcomes": [o.as_dict() for o in self.outcomes],
                "steps": [{"id": s.id, "status": s.status.value} for s in self.steps]}


@dataclasses.dataclass(frozen=True)
class Inbox:
    """What the popup says of a mailbox's inbox: read or not, last looked at, and the
    failure of the last look (or why it cannot be read)."""

    readable: bool
    looked_at: dt.datetime | None
    failure: dict[str, Any] | None


def readable_inbox(host: Host, mailbox_id: Any, transport: Any,
                   through_api: set[str] | None = None) -> Any:
    """A condition on a mailbox: its inbox can be read, by IMAP (the copy in Sent's
    settings) or through its mail API where the admin chose that (``through_api``: those
    transports, when the caller knows them)."""
    from falcana_sent_copy.models import SentCopySettings

    imap = select(SentCopySettings.mailbox_id).where(SentCopySettings.host != "")
    if through_api is None:
        through_api = reading_transports(host)
    return mailbox_id.in_(imap) | transport.in_(sorted(through_api)) if through_api \
        else mailbox_id.in_(imap)


def bounces(host: Host) -> Bounces:
    return host.service("bounces", Bounces)


class Bounces:
    """The bounces part of a host: ``falcana_bounces.service.bounces(host)``."""

    def __init__(self, host: Host) -> None:
        self.host = host

    # -- looking ------------------------------------------------------------------------

    def readable(self, *, due: bool = False) -> list[Mailbox]:
        """The mailboxes whose inbox can be read (IMAP settings of the copy in Sent, or
        a mail API the admin chose to read through), by address; ``due``: only those
        whose next look has come."""
        from falcana_core.api import Mailbox

        query = select(Mailbox).where(readable_inbox(self.host, Mailbox.id,
                                                     Mailbox.transport))
        if due:
            query = query.outerjoin(InboxCursor, InboxCursor.mailbox_id == Mailbox.id).where(
                (InboxCursor.next_look_at.is_(None)) | (InboxCursor.next_look_at <= utcnow()))
        with self.host.sessions() as s:
            return list(s.scalars(query.order_by(Mailbox.address, Mailbox.id)))

    def look(self, mailbox: Mailbox, *, now: dt.datetime | None = None) -> Look:
        """Read what is new in the mailbox's inbox (needs its IMAP settings, the copy in
        Sent's) and record every report found; the next look is set from ``now``."""
        from falcana_sent_copy.copier import session_for
        from falcana_sent_copy.imap import StepFailed
        from falcana_sent_copy.settings import imap_settings

        look = Look(mailbox.id)
        settings = imap_settings(self.host, mailbox)
        if settings is None:
            api = api_for(self.host, mailbox)
            if api is not None:
                return self._look_through(mailbox, api, now or utcnow())
            look.failure = self._unreadable(mailbox)
            return look
        with self.host.sessions() as s:
            cursor = s.get(InboxCursor, mailbox.id)
            uidvalidity = cursor.uidvalidity if cursor else None
            last_uid = cursor.last_uid if cursor else 0
        session = session_for(self.host, settings, deadline_in(self.host.config.send_deadline))
        seen: Seen | None = None
        try:
            session.open()
            seen = read_inbox(session, uidvalidity, last_uid, utcnow().date())
        except StepFailed as failed:
            explanation = self.host.explain(failed.failure)
            look.failure = {"step": failed.failure.step, "kind": failed.failure.kind.value,
                            "explanation": explanation.as_dict(current_language())
                            if explanation else None}
        finally:
            look.steps = list(session.steps)
            session.close()
        if seen is not None:
            self._read(look, mailbox, seen.looked_at, len(seen.too_large),
                       [(uid, None, raw) for uid, raw in seen.reports])
        self._moved_on(mailbox.id, seen, look.failure, now or utcnow())
        return look

    def _unreadable(self, mailbox: Mailbox) -> dict[str, Any]:
        """Why the inbox cannot be read, and what to enter, as a look's failure."""
        fix = _("Enter them in the section \"Copy in Sent (IMAP)\" (its mode may stay "
                "off).")
        if mailbox.transport in READERS:
            fix = _("Enter them in the section \"Copy in Sent (IMAP)\" (its mode may "
                    "stay off), or let an admin choose reading delivery reports through "
                    "the mail API in the OAuth2 client's settings.")
        return {"step": "settings", "explanation": {
            "cause": text_in(_("The inbox cannot be read: this mailbox has no IMAP "
                               "settings."), current_language()),
            "fix": text_in(fix, current_language())}}

    def inbox(self, mailbox: Mailbox) -> Inbox:
        """Whether the mailbox's inbox is read, when it was last, and what the last look
        failed at (the popup shows it: no report found is not the same as none read)."""
        from falcana_sent_copy.settings import imap_settings

        with self.host.sessions() as s:
            cursor = s.get(InboxCursor, mailbox.id)
        readable = imap_settings(self.host, mailbox) is not None or \
            api_for(self.host, mailbox) is not None
        return Inbox(readable, cursor.looked_at if cursor else None,
                     (cursor.error if cursor else None) if readable
                     else self._unreadable(mailbox))

    def _look_through(self, mailbox: Mailbox, api: OAuthApi, now: dt.datetime) -> Look:
        """A look through the mailbox's mail API (Microsoft Graph, the Gmail API)."""
        look = Look(mailbox.id)
        with self.host.sessions() as s:
            cursor = s.get(InboxCursor, mailbox.id)
            position = cursor.position if cursor else None
        reader = READERS[str(mailbox.transport)](
            self.host, mailbox, api, deadline_in(self.host.config.send_deadline))
        fetched: Fetched | None = None
        try:
            fetched = reader.read(position, now.date())
        except ReadFailed as failed:
            look.failure = failed.as_dict()
        finally:
            look.steps = list(reader.steps)
            reader.close()
        if fetched is not None:
            self._read(look, mailbox, fetched.looked_at, len(fetched.too_large),
                       [(0, source_id, raw) for source_id, raw in fetched.reports])
        self._moved_on(mailbox.id, None, look.failure, now,
                       position=fetched.position if fetched is not None else None)
        return look

    def _read(self, look: Look, mailbox: Mailbox, looked_at: int, too_large: int,
              reports: list[tuple[int, str | None, bytes]]) -> None:
        """Read what a look fetched (by IMAP UID, or a mail API's message id) and record
        every report in it."""
        look.looked_at, look.too_large = looked_at, too_large
        for uid, source_id, raw in reports:
            report = read_report(raw)
            if report is not None:
                look.outcomes += self.record(mailbox, uid, report, source_id=source_id)

    def _moved_on(self, mailbox_id: int, seen: Seen | None,
                  failure: dict[str, Any] | None, now: dt.datetime, *,
                  position: str | None = None) -> None:
        with self.host.transaction() as s:
            cursor = s.get(InboxCursor, mailbox_id) or InboxCursor(mailbox_id=mailbox_id,
                                                                   last_uid=0)
            if seen is not None:
                cursor.uidvalidity, cursor.last_uid = seen.uidvalidity, seen.last_uid
            if position:
                cursor.position = position
            cursor.looked_at, cursor.error = now, failure
            cursor.next_look_at = now + dt.timedelta(seconds=self.cadence(mailbox_id, now))
            s.add(cursor)

    def cadence(self, mailbox_id: int, now: dt.datetime | None = None) -> float:
        """Every 5 minutes while the mailbox sent in the last 3 days, hourly for the
        rest of its window; a report comes within days of the send."""
        last = self.host.outbox.last_sent(mailbox_id)
        if last is None:
            return 24 * 3600.0
        age = (now or utcnow()) - last
        return 300.0 if age <= dt.timedelta(days=3) else 3600.0

    # -- recording ----------------------------------------------------------------------

    def record(self, mailbox: Mailbox, uid: int, report: Report, *,
               source_id: str | None = None) -> list[Outcome]:
        """Tie a report's findings to this mailbox's messages, record and tell them
        (``uid`` in the IMAP inbox, or ``source_id`` in a mail API's)."""
        outcomes = []
        for finding in report.findings:
            outbox_id, matched_by = self._tie(mailbox, report, finding.recipient)
            outcome = Outcome(outbox_id, finding.recipient, finding.kind, finding.status,
                              finding.diagnostic[:MAX_TEXT], matched_by, report.reported_at,
                              report.format)
            if finding.kind is Kind.AUTO_REPLY and (
                    outbox_id is None or self._answered(mailbox, outbox_id,
                                                        finding.recipient)):
                # an automatic answer to other mail is other mail (two absence notices
                # answering each other); one a message and recipient says it all
                continue
            if not self._store(mailbox, uid, outcome, source_id):
                continue  # this report was read before (a look that was cut short)
            if outbox_id is not None:
                keeps = KEEPS[finding.kind]
                self.host.outbox.recipient_learned(outbox_id, finding.recipient,
                                                   STATUS[finding.kind], {
                    "kind": finding.kind.value, "status_code": finding.status,
                    "diagnostic": outcome.diagnostic, "matched_by": matched_by,
                    "reported_at": report.reported_at.isoformat()
                    if report.reported_at else None}, keep=keeps.__contains__)
            outcomes.append(outcome)
            self._tell(mailbox, outcome)
        return outcomes

    def _tie(self, mailbox: Mailbox, report: Report,
             recipient: str) -> tuple[int | None, str | None]:
        outbox = self.host.outbox
        if report.returned_ids:
            found = outbox.find_sent(mailbox.id, report.returned_ids)
            return (found.id, "message_id") if found else (None, None)
        if report.references:
            # an answer to another message (an auto-reply to the user's own auto-reply,
            # as two absence notices answer each other) is about that one
            found = outbox.find_sent(mailbox.id, report.references)
            return (found.id, "references") if found else (None, None)
        when = report.reported_at or utcnow()
        found = outbox.sent_to(mailbox.id, recipient, when - RECIPIENT_WINDOW,
                               when + dt.timedelta(hours=1))
        return (found.id, "recipient") if found else (None, None)

    def _answered(self, mailbox: Mailbox, outbox_id: int, recipient: str) -> bool:
        with self.host.sessions() as s:
            return s.scalar(select(BounceReport.id).where(
                BounceReport.mailbox_id == mailbox.id, BounceReport.outbox_id == outbox_id,
                BounceReport.recipient == recipient,
                BounceReport.kind == Kind.AUTO_REPLY.value).limit(1)) is not None

    def _store(self, mailbox: Mailbox, uid: int, outcome: Outcome,
               source_id: str | None = None) -> bool:
        with self.host.transaction() as s:
            if s.scalar(select(BounceReport.id).where(
                    BounceReport.mailbox_id == mailbox.id, BounceReport.uid == uid,
                    BounceReport.source_id.is_(None) if source_id is None
                    else BounceReport.source_id == source_id,
                    BounceReport.recipient == outcome.recipient)) is not None:
                return False
            s.add(BounceReport(
                mailbox_id=mailbox.id, outbox_id=outcome.outbox_id, uid=uid,
                source_id=source_id,
                recipient=outcome.recipient[:320], kind=outcome.kind.value,
                status=outcome.status, diagnostic=outcome.diagnostic,
                format=outcome.format, matched_by=outcome.matched_by,
                reported_at=outcome.reported_at))
        self.host.audit.record("system", f"bounces.{outcome.kind.value}", "outbox",
                               str(outcome.outbox_id or ""), {
                                   "mailbox": mailbox.id, "recipient": outcome.recipient,
                                   "status": outcome.status})
        return True

    def _tell(self, mailbox: Mailbox, outcome: Outcome) -> None:
        hook = "message_auto_replied" if outcome.kind is Kind.AUTO_REPLY \
            else "message_bounced"
        if outcome.kind is Kind.DELIVERED:
            return
        self.host.hook.call(hook, host=self.host, mailbox=mailbox, outcome=outcome)

    # -- looking at what was found --------------------------------------------------------

    def reports(self, *, mailbox_id: int | None = None, days: int = 7,
                kinds: set[str] | None = None, limit: int = 500) -> list[BounceReport]:
        query = select(BounceReport).where(
            BounceReport.found_at >= utcnow() - dt.timedelta(days=days)).order_by(
            BounceReport.found_at.desc(), BounceReport.id.desc()).limit(limit)
        if mailbox_id is not None:
            query = query.where(BounceReport.mailbox_id == mailbox_id)
        if kinds:
            query = query.where(BounceReport.kind.in_(sorted(kinds)))
        with self.host.sessions() as s:
            return list(s.scalars(query))

    def counts(self, mailbox_id: int, days: int = 7) -> dict[str, int]:
        """Reports tied to this mailbox's messages in the last ``days``, by class."""
        with self.host.sessions() as s:
            rows = s.execute(select(BounceReport.kind, func.count()).where(
                BounceReport.mailbox_id == mailbox_id, BounceReport.outbox_id.is_not(None),
                BounceReport.found_at >= utcnow() - dt.timedelta(days=days))
                .group_by(BounceReport.kind)).all()
        return {kind: n for kind, n in rows}

