"""Reading a mailbox's inbox for reports, read-only and bounded.

The inbox is opened with EXAMINE (read-only: no flag changes, nothing moved or deleted),
only messages newer than the last look are asked for (UIDVALIDITY and the last UID seen;
a first look, or a new UIDVALIDITY, goes back ``FIRST_LOOK_DAYS``), their headers first,
and only the bodies of those that can be reports, with BODY.PEEK (nothing is marked
read) and only up to ``MAX_REPORT`` bytes each. The connection is the copy in Sent's
(its server, sign-in and the core's outgoing-connection rules: destination policy,
deadline, a read budget).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import email
import functools
import re
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from falcana_bounces.reports import CANDIDATE_HEADERS, MAX_REPORT, is_candidate

if TYPE_CHECKING:
    from falcana_sent_copy.imap import ImapSession

FIRST_LOOK_DAYS = 14
HEADER_BATCH = 250  # UIDs per header FETCH
MAX_BODIES = 200  # reports fetched in one look; the rest in the next
READ_BUDGET = 64 * 1024 * 1024  # everything one look may read from the server
_FETCHED = re.compile(rb"UID (\d+)|RFC822\.SIZE (\d+)")


@dataclasses.dataclass
class Seen:
    """What one look read: the candidates' contents, what it skipped, where it got to."""

    uidvalidity: int
    last_uid: int  # the highest UID looked at (the next look starts after it)
    looked_at: int = 0  # messages whose headers were read
    reports: list[tuple[int, bytes]] = dataclasses.field(default_factory=list)
    too_large: list[int] = dataclasses.field(default_factory=list)


def read_inbox(session: ImapSession, uidvalidity: int | None, last_uid: int,
               today: dt.date) -> Seen:
    """One look: EXAMINE INBOX, the new UIDs, their headers, the candidates' bodies.
    Raises ``StepFailed`` (the session keeps the steps) when a step fails."""
    session.guard.max_read = READ_BUDGET
    imap = session.imap
    assert imap is not None

    def examine() -> int:
        typ, _data = imap.select("INBOX", readonly=True)
        if typ != "OK":
            raise OSError("the inbox could not be opened read-only")
        _typ, found = imap.response("UIDVALIDITY")
        return int((found or [b"0"])[0] or 0)

    current = session.step("bounces.examine", examine, detail=lambda v: {"uidvalidity": v})
    since = last_uid if uidvalidity == current else None

    def search() -> list[int]:
        if since is None:
            day = (today - dt.timedelta(days=FIRST_LOOK_DAYS)).strftime("%d-%b-%Y")
            typ, data = imap.uid("SEARCH", "SINCE", day)
        else:
            typ, data = imap.uid("SEARCH", f"UID {since + 1}:*")
        if typ != "OK":
            raise OSError("the inbox could not be searched")
        found = sorted({int(x) for x in (data[0] or b"").split() if x.isdigit()})
        return [u for u in found if since is None or u > since]  # n:* names the last too

    uids = session.step("bounces.search", search, detail=lambda u: {"new": len(u)})
    seen = Seen(current, since or 0)
    for start in range(0, len(uids), HEADER_BATCH):
        batch = uids[start:start + HEADER_BATCH]
        heads = session.step("bounces.headers", functools.partial(_headers, session, batch),
                             detail=lambda h: {"messages": len(h)})
        for uid in batch:
            if len(seen.reports) >= MAX_BODIES:
                return seen  # the rest next time, from here
            seen.last_uid = max(seen.last_uid, uid)
            seen.looked_at += 1
            size, headers = heads.get(uid, (0, b""))
            if not is_candidate(email.message_from_bytes(headers)):
                continue
            if size > MAX_REPORT:
                seen.too_large.append(uid)
                continue
            body = session.step("bounces.fetch", functools.partial(_body, session, uid),
                                detail=lambda b: {"bytes": len(b)})
            seen.reports.append((uid, body))
    return seen


def _headers(session: ImapSession, uids: Sequence[int]) -> dict[int, tuple[int, bytes]]:
    """UID -> (size, the headers that decide), for a batch."""
    imap = session.imap
    assert imap is not None
    fields = " ".join(CANDIDATE_HEADERS).upper()
    typ, data = imap.uid("FETCH", ",".join(map(str, uids)),
                         f"(UID RFC822.SIZE BODY.PEEK[HEADER.FIELDS ({fields})])")
    if typ != "OK":
        raise OSError("the headers could not be fetched")
    found: dict[int, tuple[int, bytes]] = {}
    for item in data:
        if not isinstance(item, tuple) or len(item) < 2:
            continue
        uid = size = None
        for match in _FETCHED.finditer(item[0]):
            if match.group(1):
                uid = int(match.group(1))
            elif match.group(2):
                size = int(match.group(2))
        if uid is not None:
            found[uid] = (size or 0, bytes(item[1]))
    return found


def _body(session: ImapSession, uid: int) -> bytes:
    imap = session.imap
    assert imap is not None
    typ, data = imap.uid("FETCH", str(uid), f"(BODY.PEEK[]<0.{MAX_REPORT}>)")
    if typ != "OK":
        raise OSError("a report could not be fetched")
    return next((bytes(i[1]) for i in data if isinstance(i, tuple) and len(i) > 1), b"")


def deadline_in(seconds: float) -> float:
    return time.monotonic() + seconds
