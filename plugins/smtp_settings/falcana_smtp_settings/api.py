"""What the SMTP settings plugin offers the plugins that depend on it (provider plugins,
sign-in plugins, discovery): recognising a provider, reply rules for explanations, found
settings, the section id, the mailbox's settings, the SMTP session.

Names load on first use (``falcana_core.api.lazy_exports``), each listed once below, so
a provider plugin that imports its vocabulary from here at the top of a module costs the
command line's start nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from falcana_core.api import lazy_exports

if TYPE_CHECKING:
    from falcana_smtp_settings.detection import (
        Detection,
        FieldPreset,
        MxLookup,
        MxResolver,
        Preset,
        detect_provider,
        mx_resolver,
    )
    from falcana_smtp_settings.discovery import Discovery, Found, Tried, discover
    from falcana_smtp_settings.exchange import SmtpSession
    from falcana_smtp_settings.ids import SECTION_ID
    from falcana_smtp_settings.reply_rules import (
        ReplyRule,
        explain_by_rules,
        provider_explanation,
    )
    from falcana_smtp_settings.settings import (
        SmtpSettings,
        binding,
        load_settings,
        mailboxes_by_sign_in,
    )
    from falcana_smtp_settings.testmail import TestPart, TestResult, run_test
    from falcana_smtp_settings.transport import provider_limits, stored_provider


def mail_commands() -> Any:
    """The ``falcana mail`` command group, for plugins that add a subcommand."""
    from falcana_smtp_settings.cli import mail

    return mail


if not TYPE_CHECKING:  # names load on first use; type checkers read the imports above
    __getattr__, __dir__, __all__ = lazy_exports(__name__, __file__)
