"""The audit log: who changed what and when. Secret fields are recorded as "changed" only."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from falcana_core.models import AuditEntry

CHANGED = "changed"


class AuditLog:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def record(self, actor: str, action: str, target_type: str, target_id: str = "",
               details: Mapping[str, Any] | None = None, session: Session | None = None
               ) -> None:
        entry = AuditEntry(actor=actor, action=action, target_type=target_type,
                           target_id=target_id, details=dict(details or {}))
        if session is not None:
            session.add(entry)
            return
        with self._sessions.begin() as s:
            s.add(entry)

    def entries(self, target_type: str | None = None, target_id: str | None = None,
                limit: int = 100) -> list[AuditEntry]:
        query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
        if target_type is not None:
            query = query.where(AuditEntry.target_type == target_type)
        if target_id is not None:
            query = query.where(AuditEntry.target_id == target_id)
        with self._sessions() as s:
            return list(s.scalars(query).all())
