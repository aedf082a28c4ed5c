"""Hook implementations of the Microsoft 365 provider plugin: data and rules only.

The SMTP settings plugin hands over the recognised provider; the OAuth plugin turns the
OAuth2 client described here into sign-in choices, buttons and routes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from falcana_core.api import hookimpl

if TYPE_CHECKING:
    import falcana_smtp_settings.api as smtp_api
    from falcana_oauth import OAuthProvider

    from falcana_core import api


@hookimpl
def detect_provider(address: str, host: str, mx: smtp_api.MxLookup) -> smtp_api.Detection | None:
    from falcana_providers_m365.detect import detect

    return detect(address, host, mx)


@hookimpl
def provider_validate(ctx: api.SectionContext, provider: smtp_api.Detection,
                      values: dict[str, Any]) -> api.Validation | None:
    from falcana_providers_m365.rules import validate

    return validate(ctx, provider, values)


@hookimpl
def provider_help(ctx: api.SectionContext, provider: smtp_api.Detection,
                  values: dict[str, Any]) -> list[api.HelpText]:
    from falcana_providers_m365.rules import help_texts

    return help_texts(ctx, provider, values)


@hookimpl
def explain_delivery_error(failure: api.DeliveryFailure) -> api.Explanation | None:
    from falcana_providers_m365.explain import explain

    return explain(failure)


@hookimpl
def provider_limits(provider: str) -> api.Limits | None:
    from falcana_providers_m365.detect import M365
    from falcana_providers_m365.rules import LIMITS

    return LIMITS if provider == M365 else None


@hookimpl
def register_transports(register: api.RegisterTransport) -> None:
    from falcana_oauth.mail_api import MailApiTransport

    from falcana_providers_m365.graph import API, TRANSPORT

    register(TRANSPORT, MailApiTransport.factory(API))


@hookimpl
def deployment_settings_sections(host: api.Host) -> list[api.Section]:
    from falcana_providers_m365.oauth import SECTION

    return [SECTION]


@hookimpl
def oauth_providers(host: api.Host) -> list[OAuthProvider]:
    from falcana_providers_m365.oauth import provider

    found = provider(host)
    return [found] if found else []
