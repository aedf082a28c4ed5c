"""Hook implementations: the ``discover_settings`` answer behind ``discover(host, address)``,
the servers the ISP database knows, the "Einstellungen ermitteln" button beside the e-mail
field, ``falcana mail detect``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from falcana_core.api import hookimpl

if TYPE_CHECKING:
    import click
    from falcana_smtp_settings.api import Discovery

    from falcana_core.api import Action, Host, Text
    from falcana_core.api.net import RegisterClient


@hookimpl
def discover_settings(host: Host, address: str) -> Discovery:
    from falcana_discovery.engine import discoverer

    return discoverer(host).discover(address)


@hookimpl
def known_server(server: str) -> Text | None:
    from falcana_discovery.i18n import _
    from falcana_discovery.ispdb import servers

    name = servers().get(server)
    return _("{name} (Thunderbird ISP database)", name=name) if name else None


@hookimpl
def user_actions(host: Host) -> Iterable[Action]:
    from falcana_discovery.actions import ACTIONS

    return ACTIONS


@hookimpl
def register_commands(cli: click.Group) -> None:
    from falcana_discovery.cli import register

    register(cli)


@hookimpl
def register_outgoing_clients(register: RegisterClient) -> None:
    register("discovery.autoconfig", "a domain's autoconfig file over HTTPS, redirects included")
    register("discovery.probe", "probing candidate SMTP and IMAP servers: greeting, EHLO, STARTTLS")
