"""This plugin's tables: where each mailbox's inbox was last read, and the reports found."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from falcana_core.api import Base, utcnow


class InboxCursor(Base):
    """How far a mailbox's inbox was read: its UIDVALIDITY and the last UID seen, so a
    look fetches only what is new (a new UIDVALIDITY starts again from a recent date)."""

    __tablename__ = "bounce_cursors"

    mailbox_id: Mapped[int] = mapped_column(ForeignKey("mailboxes.id", ondelete="CASCADE"),
                                            primary_key=True)
    uidvalidity: Mapped[int | None] = mapped_column(BigInteger, default=None)  # 32 bit unsigned
    last_uid: Mapped[int] = mapped_column(Integer, default=0)
    looked_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    next_look_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    #: the last look's failure (step and explanation), None when it passed
    error: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    #: read through a mail API: where the next look goes on (Graph's delta link, the
    #: Gmail API's history id)
    position: Mapped[str | None] = mapped_column(Text, default=None)


class BounceReport(Base):
    """One recipient's outcome as a report in the inbox told it: never the report's
    text beyond the server's line about that recipient, never other mail."""

    __tablename__ = "bounce_reports"
    __table_args__ = (Index("ix_bounce_reports_mailbox_found", "mailbox_id", "found_at"),
                      Index("ix_bounce_reports_outbox", "outbox_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    mailbox_id: Mapped[int] = mapped_column(ForeignKey("mailboxes.id", ondelete="CASCADE"))
    #: the message it was tied to (None: it names none this mailbox sent)
    outbox_id: Mapped[int | None] = mapped_column(
        ForeignKey("outbox_messages.id", ondelete="SET NULL"), default=None)
    uid: Mapped[int] = mapped_column(Integer)  # in the inbox, under the cursor's UIDVALIDITY
    #: read through a mail API: the message's id there (uid is 0)
    source_id: Mapped[str | None] = mapped_column(String(200), default=None)
    recipient: Mapped[str] = mapped_column(String(320))
    kind: Mapped[str] = mapped_column(String(20))  # reports.Kind
    status: Mapped[str | None] = mapped_column(String(20), default=None)
    diagnostic: Mapped[str] = mapped_column(String(500), default="")
    format: Mapped[str] = mapped_column(String(20))  # dsn | nonstandard | auto_reply
    matched_by: Mapped[str | None] = mapped_column(String(20), default=None)
    reported_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    found_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
