"""Explanations of Gmail's SMTP replies (providers.md, as of 2026-11)."""

from __future__ import annotations

from typing import Any

from falcana_smtp_settings.api import ReplyRule, provider_explanation

from falcana_core.api import DeliveryFailure, Explanation, Retry, Scope, Text
from falcana_providers_gmail.detect import HOSTS, PROVIDERS
from falcana_providers_gmail.i18n import _

APP_PASSWORDS = (_("Google: Sign in with app passwords"),
                 "https://support.google.com/accounts/answer/185833")


def _e(id_: str, cause: Text, fix: Text, **kwargs: Any) -> Explanation:
    return provider_explanation(f"gmail.{id_}", cause, fix, **kwargs)


RULES = (
    ReplyRule(535, "5.7.8", ("Username and Password not accepted",), _e(
        "oauth_refused",
        _("Google refused the OAuth2 token: it expired, was revoked, lacks the "
          "https://mail.google.com/ scope, or belongs to another account."),
        _("Have the mailbox's own user sign in again; with domain-wide delegation check the "
          "client ID and scope in the Google Admin console."), field="auth_method"),
        auth="XOAUTH2"),
    ReplyRule(534, "5.7.9", ("Application-specific password required",), _e(
        "app_password_required",
        _("2-Step Verification is on for this Google account, so Google refuses the normal "
          "account password."),
        _("Create an app password (Google account > Security > 2-Step Verification > App "
          "passwords, name it e.g. \"falcana\") and enter it as E-mail password."),
        field="password", links=(APP_PASSWORDS,))),
    ReplyRule(535, "5.7.8", ("Username and Password not accepted",), _e(
        "bad_credentials",
        _("Google did not accept the username and password."),
        _("Check that E-mail username is the full address and that E-mail password is a "
          "current app password (the 16 letters, without spaces)."),
        field="password", links=(APP_PASSWORDS,))),
    ReplyRule(534, "5.7.14", ("log in via your web browser",), _e(
        "web_login_required",
        _("Google blocked this sign-in and wants a sign-in in the web browser first."),
        _("Use an app password (with 2-Step Verification) or OAuth2 sign-in instead of the "
          "account password."), field="password", links=(APP_PASSWORDS,))),
    ReplyRule(530, "5.7.0", ("Must issue a STARTTLS command first",), _e(
        "starttls_first",
        _("Gmail wants an encrypted connection on this port."),
        _("Set E-mail connection type to TLS (port 587) or SSL (port 465)."),
        field="security")),
    ReplyRule(550, "5.4.5", ("Daily user sending limit exceeded",), _e(
        "daily_limit",
        _("The Google account reached its daily sending limit."),
        _("Wait up to 24 hours; sending resumes then."), retry=Retry.LATER,
        retry_after=24 * 3600)),
    ReplyRule(421, "4.7.0", ("Try again later",), _e(
        "try_again_later",
        _("Gmail asked to try again later (a temporary limit)."),
        _("Nothing to change: falcana retries with increasing pauses."), retry=Retry.LATER,
        scope=Scope.MESSAGE, retry_after=300)),
    ReplyRule(555, "5.5.2", ("Syntax error",), _e(
        "syntax_error",
        _("Gmail refused the command as malformed."),
        _("This is a bug in falcana: please report it with the step log."), retry=Retry.NO,
        scope=Scope.MESSAGE)),
)


def is_google(f: DeliveryFailure) -> bool:
    return (f.provider in PROVIDERS or f.host in HOSTS
            or bool(f.reply and f.reply.text.rstrip().endswith("gsmtp")))
