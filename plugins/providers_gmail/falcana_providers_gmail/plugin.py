"""Hook implementations of the Gmail provider plugin. Imports stay inside functions."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from falcana_core import hookimpl

if TYPE_CHECKING:
    from falcana_smtp_settings.settings import SmtpSettings

    from falcana_core.delivery import DeliveryFailure, Explanation
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
def section_help(ctx: SectionContext, section_id: str,
                 values: dict[str, Any]) -> list[HelpText]:
    if section_id != "smtp":
        return []
    from falcana_providers_gmail.rules import help_texts

    return help_texts(ctx, values)


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
def locale_dir() -> Path:
    return HERE / "locale"
