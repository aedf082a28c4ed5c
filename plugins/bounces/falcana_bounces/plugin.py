"""Hook implementations: the popup's "Unzustellbare E-Mails", the inbox look as the
worker's duty and on the command line, its step labels and its outgoing client."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from falcana_core.api import hookimpl

if TYPE_CHECKING:
    import click

    from falcana_core.api import Host, Section
    from falcana_core.api.net import RegisterClient
    from falcana_core.api.transport import Duty


@hookimpl
def user_settings_sections(host: Host) -> list[Section]:
    from falcana_bounces.section import BouncesSection

    return [BouncesSection()]


@hookimpl
def worker_duties(host: Host) -> list[Duty]:
    from falcana_bounces.duty import InboxLook

    return [InboxLook(host)]


@hookimpl
def register_commands(cli: click.Group) -> None:
    from falcana_bounces.cli import bounces_group

    cli.add_command(bounces_group)


@hookimpl
def step_labels() -> dict[str, Any]:
    from falcana_bounces.steps import STEP_LABELS

    return STEP_LABELS


@hookimpl
def register_outgoing_clients(register: RegisterClient) -> None:
    register("imap.bounces", "reading the inbox for delivery reports: EXAMINE, SEARCH, "
             "FETCH (BODY.PEEK), read-only")
    register("graph.bounces", "reading the inbox for delivery reports through Microsoft "
             "Graph: the Inbox's delta query and a report's $value, GET only")
    register("gmail_api.bounces", "reading the inbox for delivery reports through the "
             "Gmail API: history, metadata and raw of a report, GET only")
