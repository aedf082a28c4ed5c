"""Explanations of Microsoft 365's SMTP replies (providers.md, as of 2026-11)."""

from __future__ import annotations

from typing import Any

from falcana_smtp_settings.api import ReplyRule, provider_explanation

from falcana_core.api import DeliveryFailure, Explanation, Retry, Scope, Text
from falcana_providers_m365.detect import M365, OUTLOOK_COM
from falcana_providers_m365.i18n import _

SMTP_AUTH_DOCS = (_("Microsoft: Enable or disable SMTP AUTH"),
                  "https://learn.microsoft.com/exchange/clients-and-mobile-in-exchange-online/"
                  "authenticated-client-smtp-submission")
DEPRECATION = (_("Exchange Team blog (2026-01-27): Updated Exchange Online SMTP AUTH Basic "
                 "Authentication Deprecation Timeline"),
               "https://techcommunity.microsoft.com/blog/exchange/updated-exchange-online-smtp-"
               "auth-basic-authentication-deprecation-timeline/4489835")


def _e(id_: str, cause: Text, fix: Text, **kwargs: Any) -> Explanation:
    return provider_explanation(f"m365.{id_}", cause, fix, **kwargs)


AUTHENTICATED_SMTP_FIX = _(
    "Switch on \"Authenticated SMTP\" for this mailbox: Microsoft 365 admin center > Users > "
    "Active users > the user > Mail > Manage email apps > Authenticated SMTP > Save; then "
    "wait about 10 minutes.")

SEND_AS_DENIED = _e(
    "send_as_denied",
    _("The mailbox may not send as this From address (no \"Send As\" right)."),
    _("Use the mailbox's own address as e-mail, or have the Microsoft 365 admin grant "
      "\"Send As\" on that address. Retrying does not help."),
    field="email", retry=Retry.NO)

TERRL_DOCS = (_("Microsoft: Tenant External Recipient Rate Limit (Exchange Online limits)"),
              "https://learn.microsoft.com/office365/servicedescriptions/"
              "exchange-online-service-description/exchange-online-limits")

TENANT_LIMIT = _e(
    "tenant_recipient_limit",
    _("The whole Microsoft 365 organisation reached its limit of external recipients in 24 "
      "hours (every mailbox of the tenant gets this reply, even one that sent little)."),
    _("Wait: every mailbox of this domain pauses for an hour and tries again. For lasting "
      "relief, the tenant needs more paid licences (the limit grows with them) or mailings "
      "through a bulk-mail service."),
    retry=Retry.LATER, scope=Scope.DOMAIN, retry_after=3600, links=(TERRL_DOCS,))

RULES = (
    # OAuth2 (XOAUTH2): Microsoft answers a refused token with the generic 5.7.3
    ReplyRule(535, "5.7.3", ("Authentication unsuccessful",), _e(
        "oauth_refused",
        _("Microsoft 365 refused the OAuth2 token: SMTP AUTH (\"Authenticated SMTP\") is off "
          "for this mailbox, the token lacks the SMTP permission, or it belongs to another "
          "account."),
        _("Switch on \"Authenticated SMTP\" for the mailbox and wait about 10 minutes; check "
          "that the app registration has SMTP.Send (the user's sign-in) or SMTP.SendAsApp "
          "with the service principal's mailbox permission (app-only); have the mailbox's own "
          "user sign in."), field="auth_method"), auth="XOAUTH2"),
    ReplyRule(535, "5.7.139", ("SmtpClientAuthentication is disabled for the Tenant",), _e(
        "smtp_auth_disabled_tenant",
        _("SMTP AUTH is switched off for the whole Microsoft 365 tenant."),
        _("Switch on \"Authenticated SMTP\" for this mailbox (it overrides the tenant "
          "setting), or ask the Microsoft 365 admin to allow SMTP AUTH for the tenant."),
        links=(SMTP_AUTH_DOCS,)), distinctive=True),
    ReplyRule(535, "5.7.139", ("disabled for the Mailbox",), _e(
        "smtp_auth_disabled_mailbox",
        _("SMTP AUTH (\"Authenticated SMTP\") is switched off for this mailbox."),
        AUTHENTICATED_SMTP_FIX, links=(SMTP_AUTH_DOCS,)), distinctive=True),
    ReplyRule(535, "5.7.139", ("basic authentication is disabled",), _e(
        "basic_auth_disabled",
        _("Microsoft blocks sign-in with a password (basic authentication) for this "
          "mailbox: a policy, Conditional Access, or the retirement of basic "
          "authentication."),
        _("Use OAuth2 sign-in, the lasting way; or ask the Microsoft 365 admin to allow "
          "basic authentication for SMTP AUTH again while Microsoft still permits it."),
        links=(DEPRECATION,)), distinctive=True),
    ReplyRule(535, "5.7.139", ("credentials were incorrect",), _e(
        "wrong_password",
        _("Microsoft 365 says the user name or password is wrong."),
        _("Check E-mail username (the full mailbox address) and E-mail password. With "
          "legacy per-user MFA an app password is needed."),
        field="password"), distinctive=True),
    ReplyRule(535, "5.7.139", ("security defaults",), _e(
        "security_defaults",
        _("The tenant's Security Defaults block sending over SMTP AUTH, with a password and "
          "with OAuth2 sign-in alike."),
        _("Either the Microsoft 365 admin switches Security Defaults off (Microsoft Entra "
          "admin center > Overview > Properties > Manage security defaults) and protects "
          "sign-ins with Conditional Access instead, or this mailbox sends another way than "
          "SMTP (Microsoft Graph).")), distinctive=True),
    ReplyRule(535, "5.7.139", ("did not meet the criteria",), _e(
        "conditional_access",
        _("A sign-in policy (Conditional Access) blocked this login."),
        _("Ask the Microsoft 365 admin to check the Entra sign-in logs for this user and the "
          "Conditional Access policies.")), distinctive=True),
    ReplyRule(535, "5.7.3", ("Authentication unsuccessful",), _e(
        "auth_unsuccessful",
        _("Microsoft 365 refused the login: wrong credentials, or SMTP AUTH is blocked for "
          "this mailbox."),
        _("First check E-mail username and E-mail password; if they are right, switch on "
          "\"Authenticated SMTP\" for the mailbox (admin center > Users > Active users > "
          "Mail > Manage email apps) and wait about 10 minutes."),
        field="password")),
    ReplyRule(530, "5.7.57", ("not authenticated",), _e(
        "not_authenticated",
        _("Microsoft 365 accepts mail only after a successful login."),
        _("Enter E-mail username and E-mail password."), field="username"),
        distinctive=True),
    ReplyRule(550, "5.7.30", ("Basic authentication is not supported",), _e(
        "basic_auth_removed",
        _("Microsoft no longer accepts a password for SMTP (basic authentication was "
          "removed)."),
        _("Use OAuth2 sign-in."), links=(DEPRECATION,)), distinctive=True),
    ReplyRule(554, "5.2.252", ("SendAsDenied",), SEND_AS_DENIED, distinctive=True),
    ReplyRule(550, "5.7.60", ("send as",), SEND_AS_DENIED, distinctive=True),
    ReplyRule(554, "5.2.0", ("SendAsDenied",), SEND_AS_DENIED, distinctive=True),
    ReplyRule(554, "5.2.0", ("SubmissionQuotaExceeded",), _e(
        "quota_exceeded",
        _("The mailbox reached Microsoft's daily sending limit (10,000 recipients a day)."),
        _("Wait 24 hours; mail is sent again then."), retry=Retry.LATER,
        retry_after=24 * 3600), distinctive=True),
    # the tenant's external recipient rate limit (TERRL): every mailbox of the
    # organisation gets it, so all of the domain's mailboxes wait, not only this one
    ReplyRule(550, "5.7.233", (), TENANT_LIMIT, distinctive=True),
    ReplyRule(550, "5.7.232", (), TENANT_LIMIT, distinctive=True),
    ReplyRule(432, "4.3.2", ("Concurrent connections limit exceeded",), _e(
        "too_many_connections",
        _("More than 3 connections to this mailbox at once."),
        _("Retry later with fewer connections at the same time."), retry=Retry.LATER,
        retry_after=60), distinctive=True),
    ReplyRule(421, "4.7.66", ("TLS 1.0 and 1.1 are not supported",), _e(
        "old_tls",
        _("Microsoft 365 refuses TLS 1.0 and 1.1."),
        _("falcana uses TLS 1.2 or newer: check that connection type TLS is chosen and "
          "nothing between falcana and Microsoft downgrades it."), field="security"),
        distinctive=True),
    ReplyRule(550, "5.7.708", ("traffic not accepted from this IP",), _e(
        "ip_blocked",
        _("Microsoft does not accept mail from this tenant's IP address (reputation; common "
          "with new or trial tenants)."),
        _("Contact Microsoft support to have the tenant delisted."), retry=Retry.NO),
        distinctive=True),
)


def is_microsoft(f: DeliveryFailure) -> bool:
    return f.provider in (M365, OUTLOOK_COM) or f.host.endswith(
        (".office365.com", ".outlook.com"))
