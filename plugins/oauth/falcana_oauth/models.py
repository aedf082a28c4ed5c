"""The OAuth plugin's tables: a mailbox's connection and the consent links an admin sent."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from falcana_core.api import Base, utcnow


class OAuthConnection(Base):
    """How a mailbox signs in with OAuth2: mode, account, and the state of its tokens.

    The refresh and access tokens themselves are secrets (owner "oauth")."""

    __tablename__ = "oauth_connections"

    mailbox_id: Mapped[int] = mapped_column(ForeignKey("mailboxes.id", ondelete="CASCADE"),
                                            primary_key=True)
    provider: Mapped[str] = mapped_column(String(50))
    mode: Mapped[str] = mapped_column(String(20), default="delegated")  # app | delegation
    account: Mapped[str] = mapped_column(String(320), default="")
    status: Mapped[str] = mapped_column(String(20), default="connected")  # | reauth
    reason: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    connected_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    refreshed_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    expires_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    refreshes: Mapped[int] = mapped_column(Integer, default=0)
    #: the scopes the tokens were granted for (None: the client's SMTP scope, as before
    #: mail APIs); compared when the mailbox changes its transport
    scope: Mapped[str | None] = mapped_column(String(1000), default=None)


class OAuthConsentLink(Base):
    """A link an admin sends so that the mailbox's user signs in: once, for a while."""

    __tablename__ = "oauth_consent_links"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    mailbox_id: Mapped[int] = mapped_column(ForeignKey("mailboxes.id", ondelete="CASCADE"))
    provider: Mapped[str] = mapped_column(String(50))
    created_by: Mapped[str] = mapped_column(String(150), default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column()
    used_at: Mapped[dt.datetime | None] = mapped_column(default=None)


class OAuthMigration(Base):
    """A mailbox moved off its password in bulk (``falcana mail migrate``): what it was
    before, so that ``--rollback`` restores it exactly."""

    __tablename__ = "oauth_migrations"

    mailbox_id: Mapped[int] = mapped_column(ForeignKey("mailboxes.id", ondelete="CASCADE"),
                                            primary_key=True)
    provider: Mapped[str] = mapped_column(String(50))  # the OAuth client's id
    auth_method: Mapped[str] = mapped_column(String(20))  # the sign-in it moved to
    #: the e-mail settings as they were (no secret: the password stays where it was)
    previous: Mapped[dict[str, Any]] = mapped_column(JSON)
    switched_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    switched_by: Mapped[str] = mapped_column(String(150), default="")
