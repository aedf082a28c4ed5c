"""Alembic migrations, one version table per plugin (``alembic_version_<plugin>``).

Each plugin owns its tables and its migration directory; an uninstalled plugin's version
table simply stays behind and never blocks another plugin's upgrade.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, column, select, table

if TYPE_CHECKING:
    from falcana_core.plugins import Plugins


def version_table(plugin: str) -> str:
    return f"alembic_version_{plugin}"


_REVISION = re.compile(r"""^revision\s*=\s*['"]([^'"]+)['"]""", re.M)
_DOWN = re.compile(r"""^down_revision\s*=\s*(?:None|['"]([^'"]+)['"])\s*$""", re.M)


def _heads(path: Path) -> set[str] | None:
    """The head revisions of a migration folder, read from the files' text (without
    importing Alembic); None when a file is not of the simple one-parent form."""
    revisions, parents = set(), set()
    for script in (path / "versions").glob("*.py"):
        text = script.read_text(encoding="utf-8")
        revision, down = _REVISION.search(text), _DOWN.search(text)
        if revision is None or down is None:
            return None  # a merge or an unusual file: let Alembic decide
        revisions.add(revision.group(1))
        if down.group(1):
            parents.add(down.group(1))
    return revisions - parents


def up_to_date(engine: Engine, folders: list[tuple[str, Path]]) -> bool:
    """True when every version table already holds its folder's head: the common start,
    answered with one query per plugin instead of Alembic's machinery (~0.2 s)."""
    try:
        with engine.connect() as conn:
            for name, path in folders:
                wanted = _heads(path)
                if wanted is None:
                    return False
                stored: set[str] = set(conn.execute(select(column("version_num")).select_from(
                    table(version_table(name)))).scalars())
                if stored != wanted:
                    return False
    except Exception:  # a missing version table (a new database, a new plugin)
        return False
    return True


def upgrade(engine: Engine, plugins: Plugins) -> list[str]:
    """Upgrade core first, then each enabled plugin in dependency order; returns the names.

    A plugin's migrations are the ``migrations/`` folder of its package (with ``env.py``).
    """
    folders = [(name, Path(path)) for name, path in plugins.resources("migrations")
               if (Path(path) / "env.py").is_file()]
    if up_to_date(engine, folders):
        return [name for name, _path in folders]
    from alembic import command
    from alembic.config import Config

    done = []
    for name, path in folders:
        cfg = Config()
        cfg.set_main_option("script_location", str(Path(path)))
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            cfg.attributes["version_table"] = version_table(name)
            command.upgrade(cfg, "head")
        done.append(name)
    return done


def _only_known_tables(obj: object, name: str | None, type_: str, reflected: bool,
                       compare_to: object) -> bool:
    """Autogenerate compares only tables the models know: other plugins' tables and the
    version tables are never proposed for dropping."""
    return not (type_ == "table" and reflected and compare_to is None)


def run_env() -> None:
    """The body of every plugin's ``env.py``: online migrations on the host's connection."""
    from alembic import context

    from falcana_core.models import Base

    cfg = context.config
    connection = cfg.attributes["connection"]
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        version_table=cfg.attributes["version_table"],
        render_as_batch=connection.dialect.name == "sqlite",
        include_object=_only_known_tables,
    )
    with context.begin_transaction():
        context.run_migrations()
