"""Hook implementations of the Gmail provider plugin. Imports stay inside functions."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from falcana_core import hookimpl

if TYPE_CHECKING:
    from falcana_smtp_settings.settings import SmtpSettings

    from falcana_core.delivery import DeliveryFailure, Explanation
    from falcana_core.host import Host
    from falcana_core.oauth import OAuthProvider
    from falcana_core.providers import Detection, Limits, MxLookup
    from falcana_core.sections import HelpText, SectionContext, Validation

HERE = Path(__file__).parent


@hookimpl
def detect_provider(address: str, host: str, mx: MxLookup) -> Detection | None:
    from falcana_providers_gmail.detect import detect

    return detect(address, host, mx)


@hookimpl
def validate_section(ctx: SectionContext, section_id: str,
                     values: dict[str, Any]) -> Validation | None:
    if section_id != "smtp":
        return None
    from falcana_providers_gmail.rules import validate

    return validate(ctx, values)


@hookimpl
def user_actions(host: Host, section_id: str) -> list[Any]:
    if section_id != "smtp":
        return []
    from falcana_core.oauth_ui import oauth_actions
    from falcana_providers_gmail.i18n import _
    from falcana_providers_gmail.oauth import PROVIDER_ID

    label = _("Sign in with Google")
    return oauth_actions("providers_gmail", PROVIDER_ID, label)


@hookimpl
def section_help(ctx: SectionContext, section_id: str,
                 values: dict[str, Any]) -> list[HelpText]:
    if section_id != "smtp":
        return []
    from falcana_core.oauth_ui import oauth_state_help
    from falcana_providers_gmail.oauth import PROVIDER_ID
    from falcana_providers_gmail.rules import help_texts

    return [*oauth_state_help(ctx, values, PROVIDER_ID), *help_texts(ctx, values)]


@hookimpl
def smtp_password_for_auth(settings: SmtpSettings, password: str) -> str | None:
    from falcana_providers_gmail.detect import PROVIDERS
    from falcana_providers_gmail.rules import strip_app_password

    return strip_app_password(password) if settings.provider in PROVIDERS else None


@hookimpl
def explain_delivery_error(failure: DeliveryFailure) -> Explanation | None:
    from falcana_providers_gmail.explain import explain

    return explain(failure)


@hookimpl
def provider_limits(provider: str) -> Limits | None:
    from falcana_providers_gmail.rules import LIMITS

    return LIMITS.get(provider)


@hookimpl
def deployment_settings_sections(host: Host) -> list[Any]:
    from falcana_providers_gmail.oauth import SECTION

    return [SECTION]


@hookimpl
def oauth_providers(host: Host) -> list[OAuthProvider]:
    from falcana_providers_gmail.oauth import provider

    found = provider(host)
    return [found] if found else []


@hookimpl
def register_web_routes(app: Any) -> None:
    from falcana_core.web.oauth import register_oauth_routes
    from falcana_providers_gmail.oauth import PROVIDER_ID

    register_oauth_routes(app, "providers_gmail", PROVIDER_ID)


@hookimpl
def locale_dir() -> Path:
    return HERE / "locale"
