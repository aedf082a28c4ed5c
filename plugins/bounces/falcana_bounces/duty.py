"""The inbox look as the worker's duty (hook ``worker_duties``): each mailbox with inbox
access that sent in the report window, at its cadence (every 5 minutes while it sent in
the last 3 days, hourly after), taken by one worker only."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from sqlalchemy import or_, select, update

from falcana_bounces.api_readers import reading_transports
from falcana_bounces.models import InboxCursor
from falcana_bounces.service import RECIPIENT_WINDOW, bounces, readable_inbox
from falcana_core.api.transport import insert_if_missing

if TYPE_CHECKING:
    from falcana_core.api import Host, Mailbox


class InboxLook:
    name = "bounces.look"

    def __init__(self, host: Host) -> None:
        self.host = host
        #: the transports read through their API, looked up a minute at a time (the OAuth
        #: clients' settings: several reads and a secret, every pass of the worker)
        self._through_api: tuple[float, set[str]] = (0.0, set())

    def through_api(self) -> set[str]:
        at, found = self._through_api
        if time.monotonic() - at > 60:
            found = reading_transports(self.host)
            self._through_api = (time.monotonic(), found)
        return found

    def due(self, now: dt.datetime, limit: int) -> Sequence[int]:
        """Never a mailbox without recent sends: a report comes within days of a send."""
        from falcana_core.api import Mailbox

        senders = self.host.outbox.senders_since(now - RECIPIENT_WINDOW)
        if not senders:
            return []
        with self.host.sessions() as s:
            found = s.scalars(select(Mailbox.id).outerjoin(
                InboxCursor, InboxCursor.mailbox_id == Mailbox.id).where(
                Mailbox.id.in_(sorted(senders)),
                readable_inbox(self.host, Mailbox.id, Mailbox.transport, self.through_api()),
                or_(InboxCursor.next_look_at.is_(None), InboxCursor.next_look_at <= now))
                .order_by(InboxCursor.next_look_at.is_not(None), InboxCursor.next_look_at)
                .limit(limit))
            return list(found)

    def claim(self, mailbox_id: int, now: dt.datetime, lease: float) -> bool:
        """Its next look moves a lease ahead in one UPDATE only one worker wins; a mailbox
        never looked at gets its row from the one worker whose INSERT succeeds."""
        until = now + dt.timedelta(seconds=lease)
        with self.host.engine.begin() as conn:
            moved = conn.execute(update(InboxCursor).where(
                InboxCursor.mailbox_id == mailbox_id, InboxCursor.next_look_at <= now)
                .values(next_look_at=until)).rowcount
            if not moved:  # none yet: made here, unless another worker made it first
                made = conn.execute(insert_if_missing(InboxCursor, conn.dialect.name)
                                    .returning(InboxCursor.mailbox_id), {
                    "mailbox_id": mailbox_id, "last_uid": 0, "next_look_at": until}).first()
                moved = made is not None
            return bool(moved)

    def run(self, mailbox: Mailbox, now: dt.datetime, cancelled: Callable[[], bool]) -> int:
        if cancelled():
            return 0
        return len(bounces(self.host).look(mailbox, now=now).outcomes)
