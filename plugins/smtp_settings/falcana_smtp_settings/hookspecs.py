"""Hooks the SMTP settings plugin publishes for the plugins that depend on it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from falcana_core import hookspec

if TYPE_CHECKING:
    import smtplib

    from falcana_smtp_settings.settings import SmtpSettings


@hookspec(firstresult=True)
def smtp_login(smtp: smtplib.SMTP, settings: SmtpSettings) -> str | None:
    """Authenticate an open SMTP connection, replacing the default password login.

    First result: return the name of the mechanism used (e.g. ``"XOAUTH2"``) after a
    successful login, or ``None`` to leave the login to the next plugin and finally to
    the default (PLAIN or LOGIN from what EHLO offered after TLS). Raise
    ``smtplib.SMTPAuthenticationError`` (or any ``SMTPResponseException``) on a refusal,
    so the step log shows the server's reply. ``settings.password`` is a ``SecretValue``.
    Called plugin by plugin in name order.
    """


@hookspec
def smtp_password_for_auth(settings: SmtpSettings, password: str) -> str | None:
    """Adjust a stored password right before AUTH (Gmail strips spaces from app passwords).

    Collected in plugin-name order; each non-None result replaces the password handed to
    the next implementation and finally to AUTH. Never log the value.
    """
