"""What the SMTP settings plugin offers the plugins that depend on it (provider plugins,
sign-in plugins, discovery): recognising a provider, reply rules for explanations, found
settings, the section id, the mailbox's settings, the SMTP session."""

from typing import Any

from falcana_smtp_settings.detection import (
    Detection,
    FieldPreset,
    MxLookup,
    MxResolver,
    detect_provider,
    mx_resolver,
)
from falcana_smtp_settings.discovery import Discovery, Found, Tried, discover
from falcana_smtp_settings.exchange import SmtpSession
from falcana_smtp_settings.reply_rules import ReplyRule, explain_by_rules, provider_explanation
from falcana_smtp_settings.section import SECTION_ID
from falcana_smtp_settings.settings import Preset, SmtpSettings, binding, load_settings
from falcana_smtp_settings.testmail import TestPart
from falcana_smtp_settings.transport import provider_limits, stored_provider

__all__ = ["SECTION_ID", "Detection", "Discovery", "FieldPreset", "Found", "MxLookup",
           "MxResolver", "Preset", "ReplyRule", "SmtpSession", "SmtpSettings", "TestPart",
           "Tried", "binding", "detect_provider", "discover", "explain_by_rules",
           "load_settings", "mail_commands", "mx_resolver", "provider_explanation",
           "provider_limits", "stored_provider"]


def mail_commands() -> Any:
    """The ``falcana mail`` command group, for plugins that add a subcommand."""
    from falcana_smtp_settings.cli import mail

    return mail
