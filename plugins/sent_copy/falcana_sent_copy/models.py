"""This plugin's table: where a mailbox's copy of sent mail goes (IMAP)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from falcana_core.api import Base, utcnow


class SentCopySettings(Base):
    __tablename__ = "sent_copy_settings"

    mailbox_id: Mapped[int] = mapped_column(
        ForeignKey("mailboxes.id", ondelete="CASCADE"), primary_key=True)
    #: "auto" (on unless the provider files SMTP mail in Sent itself), "on", "off"
    mode: Mapped[str] = mapped_column(String(10), default="auto")
    host: Mapped[str] = mapped_column(String(255), default="")
    port: Mapped[int] = mapped_column(Integer, default=993)
    security: Mapped[str] = mapped_column(String(10), default="ssl")
    username: Mapped[str] = mapped_column(String(320), default="")  # empty: the SMTP one
    #: the folder chosen by the admin, or the one found and remembered
    folder: Mapped[str] = mapped_column(String(500), default="")
    #: where an admin allowed the e-mail (SMTP) password to go too: the IMAP server, port,
    #: username and connection type as JSON (settings.allowed_for); None: nowhere
    smtp_password_for: Mapped[str | None] = mapped_column(String(700), default=None)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
