"""This plugin's tables: SMTP access per mailbox, and pinned server certificates."""

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


class CertificatePin(Base):
    """A server certificate an admin accepted by its SHA-256 fingerprint (host and port)."""

    __tablename__ = "smtp_certificate_pins"

    host: Mapped[str] = mapped_column(String(255), primary_key=True)
    port: Mapped[int] = mapped_column(Integer, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(150), default="")
