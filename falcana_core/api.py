"""The plugin API: everything a plugin may use of the core, and nothing else.

Plugins import from here only (a test holds the first-party plugins and the example to
it); the modules behind these names may move without breaking a plugin. Names are loaded
on first use, so importing this module stays as light as importing ``falcana_core``.

    from falcana_core.api import Detection, HelpText, Validation, hookimpl
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from falcana_core import hookimpl, hookspec

if TYPE_CHECKING:
    from falcana_core.addresses import (
        AddressError,
        ascii_address,
        has_control_chars,
        normalise_address,
        normalise_host,
        split_address,
    )
    from falcana_core.cli import echo_input_errors, fail, print_json, read_secret
    from falcana_core.cli import host as cli_host
    from falcana_core.config import Config
    from falcana_core.delivery import (
        DeliveryFailure,
        Explanation,
        FailureKind,
        Reply,
        Retry,
        Scope,
        Step,
        StepProblem,
        StepStatus,
        printable,
    )
    from falcana_core.discovery import Discovery, Found, Tried
    from falcana_core.explaining import ReplyRule, explain_by_rules, provider_explanation
    from falcana_core.host import Host
    from falcana_core.http import HttpAnswer, HttpFailure, PolicyHttp
    from falcana_core.i18n import Domain, LazyText, Text, current_language, text_in
    from falcana_core.messages import stamp
    from falcana_core.migrate import run_env
    from falcana_core.models import Base, Mailbox, User, utcnow
    from falcana_core.netpolicy import DestinationRefused, NetPolicy, connect, tls_context
    from falcana_core.providers import Detection, FieldPreset, Limits, MxLookup, MxResolver
    from falcana_core.rendering import render_section
    from falcana_core.routes import Route
    from falcana_core.secretbox import SecretValue
    from falcana_core.sections import (
        Action,
        Choice,
        Field,
        FieldType,
        HelpText,
        SaveResult,
        Section,
        SectionContext,
        Validation,
    )
    from falcana_core.transports import (
        Connection,
        DeliveryError,
        Envelope,
        RegisterTransport,
        SendResult,
        SentCopier,
        Transport,
        TransportFactory,
        cancellation,
    )
    from falcana_core.watchdog import watchdog
    from falcana_core.web import create_app
    from falcana_core.web.auth import current_user as web_user
    from falcana_core.web.auth import host as web_host
    from falcana_core.web.auth import login_required
    from falcana_core.web.server import serve
    from falcana_core.web.views import check_access, mailbox_or_404

#: public name -> "module:attribute"
_WHERE: dict[str, str] = {
    **{n: f"falcana_core.addresses:{n}" for n in (
        "AddressError", "ascii_address", "has_control_chars", "normalise_address",
        "normalise_host", "split_address")},
    **{n: f"falcana_core.cli:{n}" for n in (
        "echo_input_errors", "fail", "print_json", "read_secret")},
    "cli_host": "falcana_core.cli:host",
    "Config": "falcana_core.config:Config",
    "create_app": "falcana_core.web:create_app",
    "serve": "falcana_core.web.server:serve",
    **{n: f"falcana_core.delivery:{n}" for n in (
        "DeliveryFailure", "Explanation", "FailureKind", "Reply", "Retry", "Scope", "Step",
        "StepProblem", "StepStatus", "printable")},
    **{n: f"falcana_core.discovery:{n}" for n in ("Discovery", "Found", "Tried")},
    **{n: f"falcana_core.explaining:{n}" for n in (
        "ReplyRule", "explain_by_rules", "provider_explanation")},
    "Host": "falcana_core.host:Host",
    **{n: f"falcana_core.http:{n}" for n in ("HttpAnswer", "HttpFailure", "PolicyHttp")},
    **{n: f"falcana_core.i18n:{n}" for n in ("Domain", "LazyText", "Text", "current_language",
                                                "text_in")},
    "stamp": "falcana_core.messages:stamp",
    "run_env": "falcana_core.migrate:run_env",
    **{n: f"falcana_core.models:{n}" for n in ("Base", "Mailbox", "User", "utcnow")},
    **{n: f"falcana_core.providers:{n}" for n in (
        "Detection", "FieldPreset", "Limits", "MxLookup", "MxResolver")},
    **{n: f"falcana_core.netpolicy:{n}" for n in ("DestinationRefused", "NetPolicy",
                                                   "connect", "tls_context")},
    "render_section": "falcana_core.rendering:render_section",
    "Route": "falcana_core.routes:Route",
    "SecretValue": "falcana_core.secretbox:SecretValue",
    **{n: f"falcana_core.sections:{n}" for n in (
        "Action", "Choice", "Field", "FieldType", "HelpText", "SaveResult", "Section",
        "SectionContext", "Validation")},
    **{n: f"falcana_core.transports:{n}" for n in (
        "Connection", "DeliveryError", "Envelope", "RegisterTransport", "SendResult", "Transport",
        "TransportFactory", "SentCopier", "cancellation")},
    "watchdog": "falcana_core.watchdog:watchdog",
    "web_user": "falcana_core.web.auth:current_user",
    "web_host": "falcana_core.web.auth:host",
    "login_required": "falcana_core.web.auth:login_required",
    "check_access": "falcana_core.web.views:check_access",
    "mailbox_or_404": "falcana_core.web.views:mailbox_or_404",
}

__all__ = [  # every name above (a test checks)
    "Action", "AddressError", "Base", "Choice", "Config", "Connection", "DeliveryError",
    "DeliveryFailure", "DestinationRefused", "Detection", "Discovery", "Domain", "Envelope",
    "Explanation", "FailureKind", "Field", "FieldPreset", "FieldType", "Found", "HelpText", "Host",
    "HttpAnswer", "HttpFailure", "LazyText", "Limits", "Mailbox", "MxLookup", "MxResolver",
    "NetPolicy", "PolicyHttp", "RegisterTransport", "Reply", "ReplyRule",
    "Retry", "Route", "SaveResult", "Scope", "SecretValue", "Section", "SectionContext",
    "SendResult", "SentCopier", "Step", "StepProblem", "StepStatus", "Text", "Transport",
    "TransportFactory", "Tried", "User", "Validation", "ascii_address", "cancellation",
    "check_access", "cli_host", "connect", "create_app", "current_language", "echo_input_errors",
    "explain_by_rules", "fail", "has_control_chars", "hookimpl", "hookspec", "login_required",
    "mailbox_or_404", "normalise_address", "normalise_host", "print_json", "printable",
    "provider_explanation", "read_secret", "render_section", "run_env", "serve", "split_address",
    "stamp", "text_in", "tls_context", "utcnow", "watchdog", "web_host", "web_user",
]


def __getattr__(name: str) -> Any:
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"falcana_core.api has no {name!r}")
    module, _, attribute = where.partition(":")
    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value  # later look-ups are plain attribute reads
    return value


def __dir__() -> list[str]:
    return __all__
