"""Hook implementations of the OAuth plugin: the same sign-in for every provider client."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from falcana_core.api import hookimpl

if TYPE_CHECKING:
    from collections.abc import Iterable

    import click
    from falcana_smtp_settings.api import SmtpSession, SmtpSettings

    from falcana_core.api import (
        Action,
        Choice,
        DeliveryFailure,
        Explanation,
        HelpText,
        Host,
        Mailbox,
        Notice,
        SectionContext,
    )
    from falcana_core.api.net import RegisterClient
    from falcana_core.api.web import Route


@hookimpl
def user_actions(host: Host) -> Iterable[Action]:
    from falcana_oauth.actions import actions

    return actions(host)


@hookimpl
def section_help(ctx: SectionContext, section_id: str,
                 values: dict[str, Any]) -> list[HelpText]:
    from falcana_smtp_settings.api import SECTION_ID

    from falcana_oauth.actions import state_help

    return state_help(ctx, values) if section_id == SECTION_ID else []


@hookimpl
def smtp_auth_methods(ctx: SectionContext, values: dict[str, Any]) -> list[Choice]:
    from falcana_oauth.login import auth_methods

    return auth_methods(ctx, values)


@hookimpl
def transport_choices(ctx: SectionContext, values: dict[str, Any]) -> list[Choice]:
    from falcana_oauth.login import transport_choices as choices

    return choices(ctx, values)


@hookimpl
def smtp_login(host: Host, session: SmtpSession, settings: SmtpSettings) -> str | None:
    from falcana_oauth.login import login

    return login(host, session, settings)


@hookimpl(optionalhook=True)  # published by sent_copy, which may be absent
def imap_login(host: Host, mailbox: Mailbox, session: Any) -> str | None:
    from falcana_oauth.login import imap_login as login

    return login(host, mailbox, session)


@hookimpl
def smtp_settings_saved(ctx: SectionContext, values: dict[str, Any],
                        changes: dict[str, Any]) -> None:
    from falcana_oauth.login import connect_admin_mode

    connect_admin_mode(ctx, values, changes)


@hookimpl
def explain_delivery_error(failure: DeliveryFailure) -> Explanation | None:
    from falcana_oauth.explain import explain

    return explain(failure)


@hookimpl
def mailbox_notices(host: Host, mailbox: Mailbox) -> list[Notice]:
    from falcana_oauth.notices import notices

    return notices(host, mailbox)


@hookimpl
def register_commands(cli: click.Group) -> None:
    from falcana_oauth.cli import register

    register(cli)


@hookimpl
def register_routes(host: Host) -> list[Route]:
    from falcana_oauth.web import ROUTES

    return ROUTES


@hookimpl
def step_labels() -> dict[str, Any]:
    from falcana_oauth.steps import STEP_LABELS

    return STEP_LABELS


@hookimpl
def register_outgoing_clients(register: RegisterClient) -> None:
    register("oauth.token", "token requests: code exchange, refresh, app-only, JWT bearer, "
             "revocation")
    register("mail_api.send", "a mail API's send request (Microsoft Graph, the Gmail API)")
