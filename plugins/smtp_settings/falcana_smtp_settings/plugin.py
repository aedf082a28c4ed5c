"""Hook implementations of the SMTP settings plugin. Heavy imports stay inside functions."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from falcana_core import hookimpl

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    import click

    from falcana_core.delivery import DeliveryFailure, Explanation
    from falcana_core.host import Host
    from falcana_core.sections import Action, Section

HERE = Path(__file__).parent


@hookimpl
def user_settings_sections(host: Host) -> Iterable[Section]:
    from falcana_smtp_settings.section import SmtpSection

    return [SmtpSection()]


@hookimpl
def user_actions(host: Host, section_id: str) -> Iterable[Action]:
    from falcana_core.sections import Action
    from falcana_smtp_settings.i18n import _
    from falcana_smtp_settings.section import SECTION_ID
    from falcana_smtp_settings.testmail import test_action

    if section_id != SECTION_ID:
        return []
    return [Action("smtp.test", _("Send test e-mail"), SECTION_ID, test_action, order=10)]


@hookimpl
def register_transports(register: Callable[[str, Any], None]) -> None:
    from falcana_smtp_settings.transport import SmtpTransport

    register("smtp", SmtpTransport)


@hookimpl
def explain_delivery_error(failure: DeliveryFailure) -> Explanation | None:
    from falcana_smtp_settings.explain import explain

    return explain(failure)


@hookimpl
def register_commands(cli: click.Group) -> None:
    from falcana_smtp_settings.cli import mail

    cli.add_command(mail)


@hookimpl
def register_web_routes(app: Any) -> None:
    from falcana_smtp_settings.web import register

    register(app)


@hookimpl
def migrations() -> Path:
    return HERE / "migrations"


@hookimpl
def locale_dir() -> Path:
    return HERE / "locale"
