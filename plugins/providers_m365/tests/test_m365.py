"""Microsoft 365: detection, presets, validation, help and every reply of providers.md."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from falcana_smtp_settings.api import detect_provider, provider_limits

from falcana_core.host import Host
from falcana_core.i18n import language
from falcana_core.models import Mailbox
from falcana_core.testing.dnsd import DnsTestServer

ADDRESS = "anna@contoso-gmbh.de"
PASSWORD = "Anna-M365-Pw"
BASE: dict[str, Any] = {"email": ADDRESS, "display_name": "", "username": ADDRESS,
                        "password": PASSWORD, "port": 587, "security": "tls",
                        "host": "smtp.office365.com"}


@pytest.fixture
def mailbox(falcana_host: Host, dns_server: DnsTestServer) -> Mailbox:
    dns_server.set_mx("contoso-gmbh.de", ["contoso-gmbh-de.mail.protection.outlook.com"])
    user = falcana_host.users.add("anna", first_name="Anna", last_name="Kühn", email=ADDRESS)
    return falcana_host.mailboxes.personal(user)


@pytest.mark.parametrize(("address", "host", "provider", "via"), [
    ("x@example.com", "smtp.office365.com", "m365", "host"),
    ("x@example.com", "SMTP-Mail.Outlook.com", "outlook_com", "host"),
    ("x@outlook.com", "", "outlook_com", "domain"),
    ("x@hotmail.de", "", "outlook_com", "domain"),
    ("x@live.co.uk", "", "outlook_com", "domain"),
    ("x@contoso.onmicrosoft.com", "", "m365", "domain"),
    ("x@contoso-gmbh.de", "mail.contoso-gmbh.de", "m365", "mx"),
])
def test_detection_by_host_domain_and_mx(falcana_host: Host, dns_server: DnsTestServer,
                                         address: str, host: str, provider: str,
                                         via: str) -> None:
    dns_server.set_mx("contoso-gmbh.de", ["contoso-gmbh-de.mail.protection.outlook.com"])
    found = detect_provider(falcana_host, address, host)
    assert found is not None and (found.provider, found.via) == (provider, via)


@pytest.mark.parametrize("address", ["info@outlook.firma.de", "x@msn.example.org",
                                     "x@live.example.com", "x@hotmail.firma.de"])
def test_look_alike_company_domains_are_not_outlook_com(falcana_host: Host,
                                                        address: str) -> None:
    found = detect_provider(falcana_host, address, "")
    assert found is None or found.provider != "outlook_com"


def test_mx_reason_is_shown_in_german(falcana_host: Host, dns_server: DnsTestServer) -> None:
    dns_server.set_mx("contoso-gmbh.de", ["contoso-gmbh-de.mail.protection.outlook.com"])
    found = detect_provider(falcana_host, ADDRESS, "")
    with language("de"):
        assert str(found.reason) == (  # type: ignore[union-attr]
            "Der MX-Eintrag von contoso-gmbh.de zeigt auf Microsoft 365 "
            "(contoso-gmbh-de.mail.protection.outlook.com).")


def test_no_detection_for_other_domains_and_mx_is_cached(falcana_host: Host,
                                                         dns_server: DnsTestServer) -> None:
    dns_server.set_mx("kleinfirma.de", ["mx.kleinfirma.de"])
    assert detect_provider(falcana_host, "info@kleinfirma.de", "") is None
    asked = dns_server.queries.count("kleinfirma.de")
    detect_provider(falcana_host, "info@kleinfirma.de", "")
    assert dns_server.queries.count("kleinfirma.de") == asked


def test_dns_unavailable_is_silent(falcana_host: Host) -> None:
    from falcana_smtp_settings.api import MxResolver

    falcana_host.provide("smtp_settings.mx", MxResolver(["127.0.0.1:9"], timeout=0.5))
    assert detect_provider(falcana_host, "x@firma-ohne-dns.de", "") is None


def test_preset(falcana_host: Host, mailbox: Mailbox) -> None:
    found = detect_provider(falcana_host, ADDRESS, "")
    assert [(p.host, p.port, p.security) for p in found.presets] == [  # type: ignore[union-attr]
        ("smtp.office365.com", 587, "tls")]


def errors(result: Any, severity: str = "error") -> dict[str | None, str]:
    return {m.field: str(m.text) for m in result.validation.messages
            if m.severity.value == severity}


def test_port_465_is_an_error_and_587_needs_tls(falcana_host: Host, mailbox: Mailbox) -> None:
    with language("de"):
        r = falcana_host.save_section(mailbox, "smtp", {**BASE, "port": 465,
                                                        "security": "ssl"}, actor="a")
        assert not r.saved and "Port 465" in errors(r)["port"]
        r = falcana_host.save_section(mailbox, "smtp", {**BASE, "security": "normal"},
                                      actor="a")
        assert not r.saved and errors(r)["security"] == (
            "Port 587 verlangt bei Microsoft den Verbindungstyp TLS.")
    assert falcana_host.save_section(mailbox, "smtp", BASE, actor="a").saved


def test_send_as_warning_when_address_differs_from_username(falcana_host: Host,
                                                            mailbox: Mailbox) -> None:
    r = falcana_host.save_section(mailbox, "smtp", {**BASE, "email": "vertrieb@contoso-gmbh.de"},
                                  actor="a")
    assert r.saved and "Senden als" in errors(r, "warning")["email"]


def test_outlook_com_with_password_warns_oauth_only(falcana_host: Host) -> None:
    user = falcana_host.users.add("olaf", email="olaf@outlook.com")
    box = falcana_host.mailboxes.personal(user)
    r = falcana_host.save_section(box, "smtp", {**BASE, "email": "olaf@outlook.com",
                                                "username": "olaf@outlook.com",
                                                "host": "smtp-mail.outlook.com"}, actor="a")
    assert r.saved and "OAuth2" in errors(r, "warning")["password"]


def test_help_only_for_microsoft_dated_with_sources(falcana_host: Host,
                                                    mailbox: Mailbox) -> None:
    falcana_host.save_section(mailbox, "smtp", BASE, actor="a")
    with language("de"):
        helps = falcana_host.section_help(mailbox, "smtp")
        assert [h.id for h in helps] == ["m365.special_cases", "m365.graph",
                                         "m365.no_oauth_client"]  # no client set up yet
        body = str(helps[0].body)
        assert "Authentifiziertes SMTP" in body and "10 Minuten" in body
        assert "Sicherheitsstandards" in body and "Ende Dezember 2026" in body
        assert "OAuth2" in body and "App-Kennwort" in body
    with language("en"):
        assert "Authenticated SMTP" in str(falcana_host.section_help(mailbox, "smtp")[0].body)
    assert helps[0].last_checked and helps[0].sources
    other = falcana_host.users.add("bob", email="bob@example.com")
    assert falcana_host.section_help(falcana_host.mailboxes.personal(other), "smtp",
                                     {"email": "bob@example.com", "host": "mail.example.com"}
                                     ) == []


def test_limits(falcana_host: Host) -> None:
    limits = provider_limits(falcana_host, "m365")
    assert limits is not None and limits.max_connections == 3
    assert limits.messages_per_minute == 30
    assert limits.recipients_per_message == 1000  # the service maximum, not 500


# Replies as Microsoft sends them (providers.md), with the step at which they come.
WIRE = [
    ("auth", "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled "
     "for the Tenant. Visit https://aka.ms/smtp_auth_disabled for more information. "
     "[AM6P195CA0012.EURP195.PROD.OUTLOOK.COM 2026-11-02T09:14:55.123Z 08DE1A2B3C4D5E6F]",
     "m365.smtp_auth_disabled_tenant", None),
    ("auth", "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled "
     "for the Mailbox. Visit https://aka.ms/smtp_auth_disabled for more information. "
     "[FR2P281CA0031.DEUP281.PROD.OUTLOOK.COM 2026-11-02T09:16:12.001Z 08DE1A2B3C4D5E71]",
     "m365.smtp_auth_disabled_mailbox", None),
    ("auth", "535 5.7.139 Authentication unsuccessful, basic authentication is disabled. "
     "[VI1PR04CA0123.eurprd04.prod.outlook.com 2026-11-02T09:17:44.551Z 08DE1A2B3C4D5E72]",
     "m365.basic_auth_disabled", None),
    ("auth", "535 5.7.139 Authentication unsuccessful, the user credentials were incorrect. "
     "[BE1P281CA0007.DEUP281.PROD.OUTLOOK.COM 2026-11-02T09:15:01.456Z 08DE1A2B3C4D5E70]",
     "m365.wrong_password", "password"),
    ("auth", "535 5.7.139 Authentication unsuccessful, user is locked by your organization's "
     "security defaults policy. Contact your administrator. "
     "[AS8PR04CA0099.eurprd04.prod.outlook.com 2026-11-02T09:18:20.002Z 08DE1A2B3C4D5E73]",
     "m365.security_defaults", None),
    ("auth", "535 5.7.139 Authentication unsuccessful, the request did not meet the criteria "
     "to be authenticated successfully. Contact your administrator. "
     "[DB9PR02CA0011.eurprd02.prod.outlook.com 2026-11-02T09:19:00.777Z 08DE1A2B3C4D5E74]",
     "m365.conditional_access", None),
    ("auth", "535 5.7.3 Authentication unsuccessful "
     "[ZR0P278CA0042.CHEP278.PROD.OUTLOOK.COM 2026-11-02T09:20:00.000Z 08DE1A2B3C4D5E75]",
     "m365.auth_unsuccessful", "password"),
    ("mail", "530 5.7.57 Client not authenticated to send mail. Error: 535 5.7.139 "
     "Authentication unsuccessful [FR0P281CA0101.DEUP281.PROD.OUTLOOK.COM "
     "2026-11-02T09:21:00.000Z 08DE1A2B3C4D5E76]", "m365.not_authenticated", "username"),
    ("auth", "550 5.7.30 Basic authentication is not supported for Client Submission. "
     "[BE1P281CA0190.DEUP281.PROD.OUTLOOK.COM 2026-11-02T09:22:00.000Z 08DE1A2B3C4D5E77]",
     "m365.basic_auth_removed", None),
    ("data", "554 5.2.252 SendAsDenied; anna@contoso-gmbh.de not allowed to send as "
     "vertrieb@contoso-gmbh.de; STOREDRV.Submission.Exception:SendAsDeniedException."
     "MapiExceptionSendAsDenied; Failed to process message due to a permanent exception "
     "with message [BeginDiagnosticData]Cannot submit message.[EndDiagnosticData] "
     "[Hostname=FR2P281MB0123.DEUP281.PROD.OUTLOOK.COM]", "m365.send_as_denied", "email"),
    ("data", "550 5.7.60 SMTP; Client does not have permissions to send as this sender "
     "[AM0PR02MB1234.eurprd02.prod.outlook.com 2026-11-02T09:23:00.000Z 08DE1A2B3C4D5E78]",
     "m365.send_as_denied", "email"),
    ("data", "554 5.2.0 STOREDRV.Submission.Exception:SendAsDeniedException."
     "MapiExceptionSendAsDenied; Failed to process message due to a permanent exception "
     "with message Cannot submit message. [Hostname=AM0PR02MB1234.eurprd02.prod.outlook.com]",
     "m365.send_as_denied", "email"),
    ("mail", "432 4.3.2 Concurrent connections limit exceeded. Visit "
     "https://aka.ms/concurrent_sending for more information. [Hostname=FR2P281MB0123]",
     "m365.too_many_connections", None),
    ("mail", "421 4.7.66 TLS 1.0 and 1.1 are not supported. Please upgrade/update your client "
     "to support TLS 1.2. Visit https://aka.ms/smtp_auth_tls. "
     "[AM6P195CA0012.EURP195.PROD.OUTLOOK.COM]", "m365.old_tls", "security"),
    ("mail", "550 5.7.708 Service unavailable. Access denied, traffic not accepted from this "
     "IP. For more information please go to http://go.microsoft.com/fwlink/?LinkId=526653 "
     "AS(7230) [DB8EUR05FT012.eop-eur05.prod.protection.outlook.com]",
     "m365.ip_blocked", None),
    ("data", "554 5.2.0 STOREDRV.Submission.Exception:SubmissionQuotaExceededException; "
     "Failed to process message due to a permanent exception with message Cannot submit "
     "message. [Hostname=FR2P281MB0123.DEUP281.PROD.OUTLOOK.COM]",
     "m365.quota_exceeded", None),
    ("data", "550 5.7.233 Your message can't be sent because your organization has exceeded "
     "the tenant's external recipient rate limit. [FR2P281MB0123.DEUP281.PROD.OUTLOOK.COM]",
     "m365.tenant_recipient_limit", None),
    ("rcpt", "550 5.7.232 Your message can't be sent because your trial tenant has exceeded "
     "its external recipient rate limit. [AM0PR02MB1234.eurprd02.prod.outlook.com]",
     "m365.tenant_recipient_limit", None),
]


@pytest.mark.parametrize(("command", "reply", "explanation", "field"), WIRE,
                         ids=[w[2] + "-" + w[1][:9] for w in WIRE])
def test_every_reply_gets_its_explanation(smtp_server: Callable[..., Any],
                                          falcana_host: Host, mailbox: Mailbox, command: str,
                                          reply: str, explanation: str,
                                          field: str | None) -> None:
    server = smtp_server("starttls", users={ADDRESS: PASSWORD})
    server.fail(command, reply)
    # the test server stands in for smtp.office365.com; the MX record says Microsoft 365
    saved = falcana_host.save_section(mailbox, "smtp", {**BASE, "host": "127.0.0.1",
                                                        "port": server.port}, actor="a")
    assert saved.saved
    result = falcana_host.run_action(mailbox, "smtp.test", {}, actor="a")
    assert not result.ok
    step = result.steps[-1]
    assert step.reply is not None and str(step.reply.code) == reply[:3]
    assert result.explanation is not None, reply
    assert result.explanation.id == explanation
    assert result.explanation.field == field
    assert result.explanation.specificity > 50  # beats the generic one
    with language("de"):
        doc = result.as_dict()
        assert doc["explanation"]["id"] == explanation
        assert doc["explanation"]["cause"] != doc["explanation"]["fix"]


def test_help_says_why_oauth_is_missing_and_who_can_set_it_up(falcana_host: Host) -> None:
    """The help names "Send through: Microsoft Graph" and "Sign-in: OAuth2": while no
    OAuth2 client is set up, it says so, for an admin with the way to the settings."""
    from falcana_core.i18n import language

    user = falcana_host.users.add("anna", first_name="Anna", last_name="Berg",
                                  email="anna@contoso.onmicrosoft.com")
    box = falcana_host.mailboxes.personal(user)
    helps = {h.id: h for h in falcana_host.section_help(box, "smtp")}
    assert "m365.no_oauth_client" in helps
    with language("de"):
        as_user = str(falcana_host.hook.section_help(falcana_host.context(box, "anna"), "smtp",
                                                     falcana_host.section_values(box, "smtp"))
                      [-1].body)
        as_admin = str(helps["m365.no_oauth_client"].body)
    assert "Ein Admin richtet ihn unter Systemeinstellungen ein" in as_user
    assert "/admin/settings" in as_admin and "/admin/settings" not in as_user
    assert falcana_host.save_section(None, "oauth_microsoft", {"client_id": "app-1"},
                                     actor="admin").saved
    assert "m365.no_oauth_client" not in {h.id for h in falcana_host.section_help(box, "smtp")}
