"""Database engine and sessions: SQLite by default (WAL, busy time-out), PostgreSQL by URL."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

SQLITE_BUSY_TIMEOUT_MS = 30_000  # FALCANA_SQLITE_BUSY_TIMEOUT (seconds) overrides


def _busy_timeout_ms() -> int:
    raw = os.environ.get("FALCANA_SQLITE_BUSY_TIMEOUT", "").strip()
    try:
        return max(0, int(float(raw) * 1000)) if raw else SQLITE_BUSY_TIMEOUT_MS
    except ValueError:
        return SQLITE_BUSY_TIMEOUT_MS


def private_dir(path: Path) -> None:
    """The data directory: the owner's only (0700), whether new or found."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    with contextlib.suppress(PermissionError):  # not ours to change: leave it
        path.chmod(0o700)


def private_file(path: Path) -> None:
    """Create ``path`` (and its folder) readable by the owner only: the database holds
    password hashes, queued mail and the audit log. Existing files are tightened too."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not path.exists():
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    for sibling in (path, path.with_name(path.name + "-wal"),
                    path.with_name(path.name + "-shm")):
        with contextlib.suppress(FileNotFoundError):
            sibling.chmod(0o600)  # SQLite gives -wal and -shm the database file's mode


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine; for SQLite the file is created private (0600 in a 0700 folder) and WAL
    switched on. Parameters never appear in errors (they may be secrets)."""
    parsed = make_url(url)
    kwargs.setdefault("hide_parameters", True)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            private_file(Path(parsed.database))
        busy = _busy_timeout_ms()
        engine = create_engine(url, connect_args={"timeout": busy / 1000}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute(f"PRAGMA busy_timeout={busy}")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return engine
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        url = parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    return create_engine(url, pool_pre_ping=True, **kwargs)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def describe_error(exc: BaseException) -> str:
    """One line for a database error: what happened, never the SQL or its parameters."""
    orig = getattr(exc, "orig", None) or exc
    text = str(orig).splitlines()[0] if str(orig) else orig.__class__.__name__
    if "locked" in text or "busy" in text:
        return ("the database is busy: another process holds a lock on it; try again in a "
                "moment")
    return f"database error: {orig.__class__.__name__}: {text[:200]}"
