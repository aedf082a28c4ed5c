"""The core's own contributions, registered through the same hooks as any plugin."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from falcana_core import hookimpl

if TYPE_CHECKING:
    from falcana_core.host import Host
    from falcana_core.sections import Section

HERE = Path(__file__).parent


@hookimpl
def migrations() -> Path:
    return HERE / "migrations"


@hookimpl
def locale_dir() -> Path:
    return HERE / "locale"


@hookimpl
def deployment_settings_sections(host: Host) -> list[Section]:
    from falcana_core.general import GeneralSection

    return [GeneralSection()]


@hookimpl
def user_settings_sections(host: Host) -> list[Section]:
    from falcana_core.outbox_section import OutboxSection

    return [OutboxSection()]
