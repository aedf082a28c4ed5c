"""Sending through the Gmail API: a local HTTPS Gmail API that checks tokens from the local
authorization server; the user's consent, domain-wide delegation, a sign-in for SMTP that
already covers sending, and every documented error with its retry decision."""

from __future__ import annotations

import json
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

import pytest
from falcana_oauth.testing import sign_in
from falcana_oauth.testing.authorization import OAuthTestServer
from falcana_providers_gmail.testing import GmailApiTestServer

from falcana_core.host import Host
from falcana_core.i18n import language
from falcana_core.models import Mailbox
from falcana_core.transports import DeliveryError

MAX = "max@agentur-nord.de"
LISA = "lisa@agentur-nord.de"
CALLBACK = "http://localhost/plugins/oauth/google/callback"
GMAIL_SEND = "https://www.googleapis.com/auth/gmail.send"
FULL = "https://mail.google.com/"


@pytest.fixture
def gmail(oauth_server: OAuthTestServer, server_ssl_context: Any
          ) -> Iterator[GmailApiTestServer]:
    server = GmailApiTestServer(oauth_server, server_ssl_context)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def service_key(oauth_server: OAuthTestServer) -> dict[str, str]:
    return oauth_server.add_service_account("falcana-sa@project.iam.example",
                                            scopes={GMAIL_SEND}, accounts={LISA})


@pytest.fixture
def host(falcana_host: Host, oauth_server: OAuthTestServer, gmail: GmailApiTestServer,
         dns_server: Any, service_key: dict[str, str]) -> Host:
    object.__setattr__(falcana_host.config, "base_url", "http://localhost")
    dns_server.set_mx("agentur-nord.de", ["aspmx.l.google.com"])
    oauth_server.add_client("falcana-google", "google-secret", redirect_uris=[CALLBACK],
                            scopes={GMAIL_SEND, FULL, "openid", "email"})
    assert falcana_host.save_section(None, "oauth_google", {
        "client_id": "falcana-google", "client_secret": "google-secret",
        "service_account_key": json.dumps(service_key),
        "auth_uri": f"{oauth_server.url}/auth", "token_uri": f"{oauth_server.url}/token",
        "revoke_uri": f"{oauth_server.url}/revoke", "smtp_servers": "127.0.0.1",
        "gmail_url": gmail.url}, actor="admin").saved
    falcana_host.users.add("admin", email="admin@agentur-nord.de", role="admin", password="a")
    return falcana_host


def personal(host: Host, address: str) -> Mailbox:
    user = host.users.add(address.split("@")[0], first_name="Max", last_name="Nord",
                          email=address, password="user-pw")
    return host.mailboxes.personal(user)


def save(host: Host, box: Mailbox, /, **values: Any) -> Any:
    result = host.save_section(box, "smtp", {"email": box.address, **values}, actor="admin")
    assert result.saved, [(m.field, str(m.text)) for m in result.validation.errors]
    return result


def consent(host: Host, box: Mailbox) -> str:
    """The user signs in; returns the scope the sign-in asked for."""
    return sign_in(host, box, "google", CALLBACK)


def message(**headers: str) -> EmailMessage:
    msg = EmailMessage()
    msg["To"] = "kunde@example.org"
    msg["Subject"] = "Angebot"
    for key, value in headers.items():
        msg[key] = value
    msg.set_content("Guten Tag,\nanbei unser Angebot.\n")
    return msg


@pytest.fixture
def max_box(host: Host) -> Mailbox:
    box = personal(host, MAX)
    save(host, box, transport="gmail_api", auth_method="oauth2")
    return box


def test_the_user_signs_in_for_gmail_send_only(host: Host, max_box: Mailbox,
                                               gmail: GmailApiTestServer) -> None:
    asked = consent(host, max_box)
    assert GMAIL_SEND in asked.split() and FULL not in asked.split()  # not restricted
    host.send(max_box, message(Bcc="archiv@example.org"))
    received = gmail.received[0]
    assert received.path == "/upload/gmail/v1/users/me/messages/send"
    assert received.content_type == "message/rfc822" and received.account == MAX
    assert sorted(received.recipients) == ["archiv@example.org", "kunde@example.org"]


def test_the_test_mail_step_log(host: Host, max_box: Mailbox,
                                gmail: GmailApiTestServer) -> None:
    consent(host, max_box)
    result = host.run_action(max_box, "smtp.test", {}, actor="admin")
    assert result.ok
    steps = result.as_dict()["steps"]
    assert [(s["id"], s["status"]) for s in steps] == [
        ("token", "ok"), ("request", "ok"), ("response", "ok")]
    assert steps[2]["reply_code"] == 200
    assert len(gmail.received) == 1


def test_a_sign_in_for_smtp_already_covers_the_gmail_api(
        host: Host, gmail: GmailApiTestServer, oauth_server: OAuthTestServer) -> None:
    box = personal(host, MAX)
    save(host, box, username=MAX, host="smtp.gmail.com", port=465, security="ssl",
         auth_method="oauth2")
    assert FULL in consent(host, box).split()
    codes = oauth_server.grants["authorization_code"]
    save(host, box, username=MAX, host="smtp.gmail.com", port=465, security="ssl",
         transport="gmail_api", auth_method="oauth2")
    host.send(box, message())  # no new sign-in: https://mail.google.com/ includes sending
    assert oauth_server.grants["authorization_code"] == codes
    assert len(gmail.received) == 1 and FULL in gmail.received[0].token_scope


def test_domain_wide_delegation_sends_with_gmail_send(host: Host,
                                                      gmail: GmailApiTestServer) -> None:
    box = personal(host, LISA)
    save(host, box, transport="gmail_api", auth_method="oauth2_delegation")
    host.send(box, message())
    assert gmail.received[0].account == LISA
    assert gmail.received[0].token_scope == GMAIL_SEND


@pytest.mark.parametrize(("status", "reason", "message_text", "headers", "expected", "retry",
                          "scope", "after"), [
    (400, "invalidArgument", "Invalid From header", {}, "gmail.api.send_as_denied", "no",
     "message", None),
    (400, "invalidArgument", "Invalid To header", {}, "gmail.api.invalid_argument", "no",
     "message", None),
    (403, "insufficientPermissions", "Request had insufficient authentication scopes.", {},
     "gmail.api.insufficient_permissions", "after_fix", "mailbox", None),
    (403, "dailyLimitExceeded", "Daily Limit Exceeded", {}, "gmail.api.daily_limit",
     "later", "mailbox", 3600),
    (403, "userRateLimitExceeded", "User Rate Limit Exceeded", {}, "gmail.api.rate_limited",
     "later", "mailbox", 60),
    (429, "rateLimitExceeded", "Too many requests", {"Retry-After": "12"},
     "gmail.api.rate_limited", "later", "mailbox", 12),
    (500, "backendError", "Backend Error", {}, "gmail.api.backend_error", "later", "message",
     None),
    (503, "backendError", "The service is currently unavailable.", {},
     "gmail.api.backend_error", "later", "message", None),
])
def test_each_documented_error_is_explained_with_its_retry(
        host: Host, max_box: Mailbox, gmail: GmailApiTestServer, status: int, reason: str,
        message_text: str, headers: dict[str, str], expected: str, retry: str, scope: str,
        after: int | None) -> None:
    consent(host, max_box)
    gmail.fail_next(status, reason, message_text, headers=headers)
    with pytest.raises(DeliveryError) as caught:
        host.send(max_box, message())
    explanation = caught.value.explanation
    assert explanation is not None and explanation.id == expected
    assert (explanation.retry.value, explanation.scope.value) == (retry, scope)
    assert explanation.retry_after_seconds == after
    assert caught.value.failure.data["error"] == reason
    with language("de"):
        assert str(explanation.cause) != explanation.as_dict("en")["cause"]


def test_a_from_that_is_no_alias_is_refused_with_the_send_as_explanation(
        host: Host, max_box: Mailbox, gmail: GmailApiTestServer) -> None:
    consent(host, max_box)
    gmail.strict_from = True
    with pytest.raises(DeliveryError) as caught:
        host.send(max_box, message(From="chef@agentur-nord.de"))
    assert caught.value.explanation is not None
    assert caught.value.explanation.id == "gmail.api.send_as_denied"
    assert caught.value.explanation.field == "email"
    gmail.aliases[MAX] = {"chef@agentur-nord.de"}
    host.send(max_box, message(From="chef@agentur-nord.de"))
    assert len(gmail.received) == 1


def test_gmail_rewrites_a_foreign_from_by_default(host: Host, max_box: Mailbox,
                                                  gmail: GmailApiTestServer) -> None:
    consent(host, max_box)
    host.send(max_box, message(From="chef@agentur-nord.de"))
    assert str(gmail.received[0].message["From"]) == MAX


def test_a_401_renews_the_token_once(host: Host, max_box: Mailbox, gmail: GmailApiTestServer,
                                     oauth_server: OAuthTestServer) -> None:
    consent(host, max_box)
    refreshes = oauth_server.grants["refresh_token"]
    gmail.fail_next(401, "authError", "Invalid Credentials")
    host.send(max_box, message())
    assert oauth_server.grants["refresh_token"] == refreshes + 1
    gmail.fail_next(401, "authError", "Invalid Credentials", times=2)
    with pytest.raises(DeliveryError) as caught:
        host.send(max_box, message())
    assert caught.value.explanation is not None
    assert caught.value.explanation.id == "gmail.api.unauthorized"


def test_api_mailboxes_are_not_filed_in_sent_again(host: Host, max_box: Mailbox) -> None:
    assert host.hook.after_delivery(host, max_box) == []  # Gmail files them itself
