"""The core's own contributions, registered through the same hooks as any plugin."""

from __future__ import annotations

from pathlib import Path

from falcana_core import hookimpl

HERE = Path(__file__).parent


@hookimpl
def migrations() -> Path:
    return HERE / "migrations"


@hookimpl
def locale_dir() -> Path:
    return HERE / "locale"
