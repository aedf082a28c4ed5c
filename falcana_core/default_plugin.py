"""The core's own contributions, registered through the same hooks as any plugin (its
``migrations/`` and ``locale/`` are found by convention, like a plugin's)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from falcana_core import hookimpl

if TYPE_CHECKING:
    from falcana_core.host import Host
    from falcana_core.sections import Section


@hookimpl
def deployment_settings_sections(host: Host) -> list[Section]:
    from falcana_core.general import GeneralSection

    return [GeneralSection()]


@hookimpl
def user_settings_sections(host: Host) -> list[Section]:
    from falcana_core.outbox_section import OutboxSection

    return [OutboxSection()]
