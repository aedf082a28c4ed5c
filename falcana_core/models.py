"""The core's tables. Plugins declare their own tables on the same ``Base``."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    delete,
    event,
    insert,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Base(DeclarativeBase):
    type_annotation_map = {dt.datetime: DateTime(timezone=True), dict[str, Any]: JSON}


class Role(enum.StrEnum):
    ADMIN = "admin"
    USER = "user"


class MailboxKind(enum.StrEnum):
    PERSONAL = "personal"
    SHARED = "shared"


class User(Base):
    """A person of the host application (or of falcana's own login)."""

    __tablename__ = "users"
    #: the user list's order: every page read from the index (keyset paging), no sort
    __table_args__ = (Index("ix_users_sort", "last_name", "first_name", "login"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    login: Mapped[str] = mapped_column(String(150), unique=True)
    first_name: Mapped[str] = mapped_column(String(150), default="")
    last_name: Mapped[str] = mapped_column(String(150), default="")
    email: Mapped[str] = mapped_column(String(320), default="")
    role: Mapped[str] = mapped_column(String(20), default=Role.USER.value)
    password_hash: Mapped[str | None] = mapped_column(String(255), default=None)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    external_id: Mapped[str | None] = mapped_column(String(255), unique=True, default=None)
    language: Mapped[str | None] = mapped_column(String(8), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    #: login, names and e-mail case-folded: SQLite's lower() knows only ASCII ("Äpfel").
    search_text: Mapped[str] = mapped_column(String(1000), default="", index=True)

    def refresh_search_text(self) -> None:
        parts = (self.login, self.first_name, self.last_name, self.email)
        self.search_text = " ".join(p or "" for p in parts).casefold()

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN.value

    def __repr__(self) -> str:
        return f"<User {self.id} {self.login!r}>"


@event.listens_for(User, "before_insert")
@event.listens_for(User, "before_update")
def _user_search_text(_mapper: object, _conn: object, user: User) -> None:
    user.refresh_search_text()


class UserSearchTerm(Base):
    """One form of one word of a user's login, names or e-mail (falcana_core.search)."""

    __tablename__ = "user_search_terms"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"),
                                         primary_key=True)
    term: Mapped[str] = mapped_column(String(100), primary_key=True, index=True)


@event.listens_for(Session, "after_flush")
def _user_search_terms(session: Session, _context: object) -> None:
    """The search terms of the users a flush wrote, in one statement each way."""
    from falcana_core.search import rows

    users = [o for o in (*session.new, *session.dirty) if isinstance(o, User)]
    if not users:
        return
    ids = [u.id for u in users]
    session.execute(delete(UserSearchTerm).where(UserSearchTerm.user_id.in_(ids)))
    found = [row for u in users for row in rows(
        u.id, (u.login, u.first_name, u.last_name, u.email))]
    if found:
        session.execute(insert(UserSearchTerm), found)


class Mailbox(Base):
    """A sender identity: a user's personal mailbox, or a shared one (info@, team@)."""

    __tablename__ = "mailboxes"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), default=MailboxKind.PERSONAL.value)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), unique=True, default=None
    )
    address: Mapped[str] = mapped_column(String(320), default="", index=True)
    display_name: Mapped[str] = mapped_column(String(255), default="")
    #: the transport's name; empty: the deployment's default (``Host.transport``)
    transport: Mapped[str] = mapped_column(String(50), default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    user: Mapped[User | None] = relationship(lazy="joined")

    @property
    def sender_name(self) -> str:
        """The display name, or "<Vorname> <Nachname>" of the user as they are now."""
        if self.display_name:
            return self.display_name
        return self.user.full_name if self.user else ""

    def __repr__(self) -> str:
        return f"<Mailbox {self.id} {self.kind}>"


class StoredSecret(Base):
    """Every secret of every plugin, encrypted; one table so rotation reaches them all."""

    __tablename__ = "secrets"
    __table_args__ = (UniqueConstraint("owner", "purpose", "ref"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    owner: Mapped[str] = mapped_column(String(100))  # the plugin
    purpose: Mapped[str] = mapped_column(String(100))  # e.g. "smtp_password"
    ref: Mapped[str] = mapped_column(String(100))  # e.g. "mailbox:12"
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    key_id: Mapped[str] = mapped_column(String(32), index=True)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class SecretKey(Base):
    """A key the database knows, with a check value; the key itself is never stored here."""

    __tablename__ = "secret_keys"

    key_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    check_value: Mapped[bytes] = mapped_column(LargeBinary)
    is_primary: Mapped[bool] = mapped_column(Boolean, default=False)
    retired: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class PluginState(Base):
    """Enable/disable per deployment (takes effect when the host starts)."""

    __tablename__ = "plugin_state"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    changed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    changed_by: Mapped[str] = mapped_column(String(150), default="")


class WebSession(Base):
    """A signed-in browser. The cookie holds a random id whose hash is stored here, no
    password material: logging out, a password change or a deactivation deletes the rows,
    and a copied cookie stops working at once."""

    __tablename__ = "web_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"),
                                         index=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_seen: Mapped[dt.datetime] = mapped_column(default=utcnow)


class AuditEntry(Base):
    """Who changed what and when. Secrets appear only as "changed"."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(150))
    action: Mapped[str] = mapped_column(String(100))
    target_type: Mapped[str] = mapped_column(String(50))
    target_id: Mapped[str] = mapped_column(String(100), default="")
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    note: Mapped[str] = mapped_column(Text, default="")


class DeploymentSetting(Base):
    """A deployment-wide setting of a plugin (key/value), e.g. whether users edit their own."""

    __tablename__ = "deployment_settings"

    owner: Mapped[str] = mapped_column(String(100), primary_key=True)
    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column(default=dict)
    changed_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    changed_by: Mapped[str] = mapped_column(String(150), default="")


class OutboxStatus(enum.StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    DEFERRED = "deferred"
    FAILED = "failed"
    CANCELLED = "cancelled"


class OutboxMessage(Base):
    """A message handed over for a mailbox, stored until the server accepted it.

    ``claim_token`` and ``lease_until`` belong to the worker sending it; a result is
    committed only while the claim still holds, so a crashed worker's messages return to
    the queue and a slow one never overwrites another's result."""

    __tablename__ = "outbox_messages"
    #: A claim reads the due messages of one mailbox, a pass the mailboxes with due ones,
    #: a rate limit the recent sends of one mailbox: each an index range, so the cost stays
    #: flat however much delivered history the table holds (benchmarks/outbox.py).
    __table_args__ = (
        Index("ix_outbox_messages_mailbox_due", "mailbox_id", "status", "next_attempt_at"),
        Index("ix_outbox_messages_status_due", "status", "next_attempt_at"),
        Index("ix_outbox_messages_mailbox_sent", "mailbox_id", "sent_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    mailbox_id: Mapped[int] = mapped_column(ForeignKey("mailboxes.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(20), default=OutboxStatus.QUEUED.value)
    message_id: Mapped[str] = mapped_column(String(255), index=True)
    sender: Mapped[str] = mapped_column(String(320), default="")  # envelope sender
    smtputf8: Mapped[bool] = mapped_column(Boolean, default=False)
    subject: Mapped[str] = mapped_column(String(255), default="")
    recipients: Mapped[dict[str, Any]] = mapped_column(default=dict)  # {address: {status, reply}}
    content: Mapped[bytes] = mapped_column(LargeBinary)  # as sent: without Bcc
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    claim_token: Mapped[str | None] = mapped_column(String(64), default=None, index=True)
    lease_until: Mapped[dt.datetime | None] = mapped_column(default=None)
    sent_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    #: the durable steps after delivery (hook ``after_delivery``), by duty
    after: Mapped[list[AfterDelivery]] = relationship(
        lazy="selectin", cascade="all, delete-orphan", passive_deletes=True,
        order_by="AfterDelivery.duty")

    def __repr__(self) -> str:
        return (f"<OutboxMessage {self.id} {self.status} box {self.mailbox_id} "
                f"{self.message_id!r} attempts={self.attempts}>")

    def after_delivery(self, duty: str) -> AfterDelivery | None:
        """The step ``duty`` ("sent_copy") of this message, if it has one."""
        return next((a for a in self.after if a.duty == duty), None)


class AfterDelivery(Base):
    """One durable step after a message was delivered (the copy in Sent): recorded in the
    commit that marks the message sent, then done by the worker, retried with back-off;
    ``next_at`` doubles as the lease of the worker doing it."""

    __tablename__ = "outbox_after_delivery"
    __table_args__ = (
        Index("ix_outbox_after_delivery_due", "status", "next_at"),
        Index("ix_outbox_after_delivery_mailbox", "mailbox_id", "status", "next_at"),
    )

    outbox_id: Mapped[int] = mapped_column(
        ForeignKey("outbox_messages.id", ondelete="CASCADE",
                   name="fk_outbox_after_delivery_outbox_id"), primary_key=True)
    duty: Mapped[str] = mapped_column(String(40), primary_key=True)
    mailbox_id: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(10), default="pending")  # done, failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)


class MailboxQueue(Base):
    """Per mailbox: whether its queue is paused, why, and until when."""

    __tablename__ = "mailbox_queues"

    mailbox_id: Mapped[int] = mapped_column(ForeignKey("mailboxes.id", ondelete="CASCADE"),
                                            primary_key=True)
    paused_until: Mapped[dt.datetime | None] = mapped_column(default=None)
    pauses: Mapped[int] = mapped_column(Integer, default=0)
    reason: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class MailboxHealth(Base):
    """Per mailbox: whether it can still send (falcana_core/health.py), as the worker's
    last verify and the plugins' notices found, and when it is verified next."""

    __tablename__ = "mailbox_health"
    __table_args__ = (Index("ix_mailbox_health_due", "next_check_at"),
                      Index("ix_mailbox_health_state", "state"))

    mailbox_id: Mapped[int] = mapped_column(ForeignKey("mailboxes.id", ondelete="CASCADE"),
                                            primary_key=True)
    state: Mapped[str] = mapped_column(String(10), default="unknown")
    #: why it is broken (the failed step and its explanation), or the last verify's
    #: failure that did not concern the mailbox (a server not reachable)
    reason: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    #: the notices (ids and due dates) that made it a warning
    notices: Mapped[list[Any] | None] = mapped_column(JSON, default=None)
    checked_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    changed_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    next_check_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
