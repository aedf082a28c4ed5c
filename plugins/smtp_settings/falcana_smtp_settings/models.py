"""This plugin's table: SMTP access per mailbox, with its pinned server certificate."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from falcana_core.api import Base, utcnow


class SmtpAccount(Base):
    """The SMTP access of one mailbox; the password lives in the host's secret store."""

    __tablename__ = "smtp_accounts"

    mailbox_id: Mapped[int] = mapped_column(
        ForeignKey("mailboxes.id", ondelete="CASCADE"), primary_key=True)
    username: Mapped[str] = mapped_column(String(320), default="")
    host: Mapped[str] = mapped_column(String(255), default="")
    port: Mapped[int] = mapped_column(Integer, default=587)
    security: Mapped[str] = mapped_column(String(10), default="tls")
    #: "password", or OAuth2: "oauth2" (the user's sign-in), "oauth2_app", "oauth2_delegation"
    auth_method: Mapped[str] = mapped_column(String(20), default="password",
                                             server_default="password")
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    #: a certificate an admin accepted for this mailbox, valid only for ``pin_for``
    #: ("host:port"): another server never inherits it, and no other mailbox sees it
    pin_sha256: Mapped[str | None] = mapped_column(String(64), default=None)
    pin_for: Mapped[str | None] = mapped_column(String(262), default=None)
    #: the certificate this mailbox's server presented in its last failed test: the only
    #: one that can be pinned (remembered here, never taken from a request)
    offered_sha256: Mapped[str | None] = mapped_column(String(64), default=None)
    offered_for: Mapped[str | None] = mapped_column(String(262), default=None)
    offered_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    #: the provider recognised when the settings were saved (MX look-up included): the
    #: send path reads it and asks no DNS (a resolver that is down must not hold mail)
    provider: Mapped[str | None] = mapped_column(String(50), default=None)
