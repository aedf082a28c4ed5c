"""Alembic migrations, one version table per plugin (``alembic_version_<plugin>``).

Each plugin owns its tables and its migration directory; an uninstalled plugin's version
table simply stays behind and never blocks another plugin's upgrade.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine

if TYPE_CHECKING:
    from falcana_core.plugins import Plugins


def version_table(plugin: str) -> str:
    return f"alembic_version_{plugin}"


def upgrade(engine: Engine, plugins: Plugins) -> list[str]:
    """Upgrade core first, then each enabled plugin in dependency order; returns the names.

    A plugin's migrations are the ``migrations/`` folder of its package (with ``env.py``).
    """
    from alembic import command
    from alembic.config import Config

    done = []
    for name, path in plugins.resources("migrations"):
        if not (path / "env.py").is_file():
            continue
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
