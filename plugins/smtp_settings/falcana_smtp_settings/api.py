"""What the SMTP settings plugin offers the plugins that depend on it (sign-in plugins,
provider plugins): its section id, the mailbox's settings, the SMTP session."""

from typing import Any

from falcana_smtp_settings.exchange import SmtpSession
from falcana_smtp_settings.section import SECTION_ID
from falcana_smtp_settings.settings import Preset, SmtpSettings, binding, load_settings
from falcana_smtp_settings.testmail import TestPart
from falcana_smtp_settings.transport import stored_provider

__all__ = ["SECTION_ID", "Preset", "SmtpSession", "SmtpSettings", "TestPart", "binding",
           "load_settings", "mail_commands", "stored_provider"]


def mail_commands() -> Any:
    """The ``falcana mail`` command group, for plugins that add a subcommand."""
    from falcana_smtp_settings.cli import mail

    return mail
