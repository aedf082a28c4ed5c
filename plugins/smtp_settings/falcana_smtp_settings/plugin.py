"""Hook implementations of the SMTP settings plugin. Heavy imports stay inside functions.

The plugin owns its section, so it calls the provider-facing hooks it publishes
(``provider_validate``, ``provider_help``) with the provider it recognised once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from falcana_core.api import hookimpl

if TYPE_CHECKING:
    from collections.abc import Iterable

    import click

    from falcana_core.api import (
        Action,
        DeliveryFailure,
        Explanation,
        HelpText,
        Host,
        Section,
        SectionContext,
        Validation,
    )
    from falcana_core.api.net import RegisterClient
    from falcana_core.api.transport import RegisterTransport
    from falcana_core.api.web import Route


@hookimpl
def user_settings_sections(host: Host) -> Iterable[Section]:
    from falcana_smtp_settings.section import SmtpSection

    return [SmtpSection()]


@hookimpl
def user_actions(host: Host) -> Iterable[Action]:
    from falcana_core.api import Action, Field, FieldType
    from falcana_smtp_settings.i18n import _
    from falcana_smtp_settings.ids import SECTION_ID
    from falcana_smtp_settings.testmail import test_action

    return [Action("smtp.test", _("Send test e-mail"), SECTION_ID, test_action, order=10,
                   inputs=[Field("to", _("Send the test e-mail to (optional)"),
                                 FieldType.EMAIL)],
                   template="smtp_settings/test_result.html")]


@hookimpl
def validate_section(ctx: SectionContext, section_id: str,
                     values: dict[str, Any]) -> Validation | None:
    from falcana_smtp_settings.ids import SECTION_ID
    from falcana_smtp_settings.providers import validate_for_provider

    return validate_for_provider(ctx, values) if section_id == SECTION_ID else None


@hookimpl
def section_help(ctx: SectionContext, section_id: str,
                 values: dict[str, Any]) -> list[HelpText]:
    from falcana_smtp_settings.ids import SECTION_ID
    from falcana_smtp_settings.providers import help_for_provider

    return help_for_provider(ctx, values) if section_id == SECTION_ID else []


@hookimpl
def register_transports(register: RegisterTransport) -> None:
    from falcana_smtp_settings.transport import SmtpTransport

    register("smtp", SmtpTransport, default=True)


@hookimpl
def explain_delivery_error(failure: DeliveryFailure) -> Explanation | None:
    from falcana_smtp_settings.explain import explain

    return explain(failure)


@hookimpl
def register_commands(cli: click.Group) -> None:
    from falcana_smtp_settings.cli import demo, mail

    cli.add_command(mail)
    cli.add_command(demo)


@hookimpl
def register_routes(host: Host) -> list[Route]:
    from falcana_smtp_settings.web import ROUTES

    return ROUTES


@hookimpl
def step_labels() -> dict[str, Any]:
    from falcana_smtp_settings.steps import STEP_LABELS

    return STEP_LABELS


@hookimpl
def register_outgoing_clients(register: RegisterClient) -> None:
    register("smtp.test", "the test e-mail over SMTP: connect, TLS, EHLO, AUTH, the message")
    register("smtp.send", "the worker's delivery over SMTP")
