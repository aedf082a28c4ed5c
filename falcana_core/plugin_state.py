"""Which plugins to load: the installed ones, less those blocked by the environment or
disabled in the database.

Read without SQLAlchemy where the database is the default SQLite file (the standard
library's ``sqlite3``, read-only), so that ``falcana --help`` and every subcommand's
``--help`` start without the database layer; another database is read through it.
"""

from __future__ import annotations

import logging
import sqlite3
import urllib.parse
from pathlib import Path
from typing import TYPE_CHECKING

from falcana_core.plugins import Plugins

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from falcana_core.config import Config
    from falcana_core.plugins import Candidate

log = logging.getLogger(__name__)
TABLE = "plugin_state"


def load_enabled_plugins(config: Config, engine: Engine | None = None,
                         candidates: list[Candidate] | None = None) -> Plugins:
    """Load plugins, leaving out those blocked by the environment or disabled in the
    database. Without an engine the database is read only if it exists: ``falcana --help``
    must not create one."""
    plugins = Plugins(strict=config.strict_plugins)
    disabled = (disabled_in(engine) if engine is not None
                else disabled_by_url(config.database_url))
    plugins.load(candidates, disabled=disabled, blocked=config.disable_plugins)
    return plugins


def sqlite_file(url: str) -> Path | None:
    """The file of an SQLite URL (``sqlite:///path``, ``sqlite+pysqlite:////abs``); None
    for an in-memory one. Only for SQLite URLs (``is_sqlite``)."""
    rest = url.partition("://")[2]
    path = urllib.parse.unquote(rest[1:].partition("?")[0]) if rest.startswith("/") else ""
    return Path(path) if path and path != ":memory:" else None


def is_sqlite(url: str) -> bool:
    scheme, sep, _rest = url.partition("://")
    return bool(sep) and scheme.split("+")[0] == "sqlite"


def disabled_by_url(url: str) -> set[str]:
    if is_sqlite(url):
        file = sqlite_file(url)
        if file is None or not file.exists():
            return set()  # in memory, or not created yet: nothing stored
        try:
            with sqlite3.connect(f"file:{file}?mode=ro", uri=True, timeout=5) as conn:
                found = conn.execute(f"SELECT name FROM {TABLE} WHERE enabled = 0")  # noqa: S608
                return {str(row[0]) for row in found}
        except sqlite3.Error as exc:  # no table yet (first start), or reported on opening
            log.debug("cannot read plugin state: %s", exc.__class__.__name__)
            return set()
    from falcana_core.db import make_engine

    engine = make_engine(url)
    try:
        return disabled_in(engine)
    finally:
        engine.dispose()


def disabled_in(engine: Engine) -> set[str]:
    """Plugins an admin disabled; an empty set before the first migration."""
    from sqlalchemy import inspect, select
    from sqlalchemy.exc import OperationalError

    from falcana_core.models import PluginState

    try:
        if not inspect(engine).has_table(PluginState.__tablename__):
            return set()
        with engine.connect() as conn:
            return set(conn.scalars(select(PluginState.name)
                                    .where(PluginState.enabled.is_(False))))
    except OperationalError as exc:  # reported when the host opens the database
        log.warning("cannot read plugin state: %s", exc.__class__.__name__)
        return set()
