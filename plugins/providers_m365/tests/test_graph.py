"""Sending through Microsoft Graph: a local HTTPS Graph that checks tokens from the local
authorization server, the user's consent and app-only, every documented error with its
retry decision, the outbox's handling of 429, and switching a mailbox between SMTP and
Graph."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import json
import logging
import re
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from typing import Any

import pytest
from falcana_oauth import oauth as oauth_of
from falcana_oauth.models import OAuthConnection
from falcana_oauth.testing import sign_in
from falcana_oauth.testing.authorization import OAuthTestServer, xoauth2_authenticator
from falcana_providers_m365.testing import GraphTestServer
from falcana_smtp_settings.testing.smtpd import SmtpTestServer
from sqlalchemy import update

from falcana_core.host import Host
from falcana_core.i18n import language
from falcana_core.models import Mailbox, MailboxQueue, utcnow
from falcana_core.testing import Clock
from falcana_core.transports import DeliveryError
from falcana_core.worker import Worker

ANNA = "anna@contoso-gmbh.de"
SHARED = "vertrieb@contoso-gmbh.de"
OTHER_SHARED = "einkauf@contoso-gmbh.de"
SECRET = "ms-client-secret-4711"
CALLBACK = "http://localhost/plugins/oauth/microsoft/callback"
SMTP_SEND = "https://outlook.office.com/SMTP.Send"
MAIL_SEND = "https://graph.microsoft.com/Mail.Send"


@pytest.fixture
def graph(oauth_server: OAuthTestServer, server_ssl_context: Any
          ) -> Iterator[GraphTestServer]:
    server = GraphTestServer(oauth_server, server_ssl_context)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def host(falcana_host: Host, oauth_server: OAuthTestServer, graph: GraphTestServer,
         dns_server: Any) -> Host:
    object.__setattr__(falcana_host.config, "base_url", "http://localhost")
    dns_server.set_mx("contoso-gmbh.de", ["contoso-gmbh-de.mail.protection.outlook.com"])
    oauth_server.add_client(
        "falcana-ms", SECRET, redirect_uris=[CALLBACK], app_accounts={SHARED},
        scopes={SMTP_SEND, MAIL_SEND, "offline_access", "openid", "email",
                "https://outlook.office365.com/.default", "https://graph.microsoft.com/.default"})
    assert falcana_host.save_section(None, "oauth_microsoft", {
        "client_id": "falcana-ms", "client_secret": SECRET, "tenant": "organizations",
        "authority": oauth_server.url, "smtp_servers": "127.0.0.1",
        "graph_url": graph.url}, actor="admin").saved
    falcana_host.users.add("admin", email="admin@contoso-gmbh.de", role="admin", password="a")
    return falcana_host


def personal(host: Host, address: str = ANNA) -> Mailbox:
    user = host.users.add(address.split("@")[0], first_name="Anna", last_name="Kühn",
                          email=address, password="user-pw")
    return host.mailboxes.personal(user)


def save(host: Host, box: Mailbox, /, **values: Any) -> Any:
    result = host.save_section(box, "smtp", {"email": box.address, **values}, actor="admin")
    assert result.saved, [(m.field, str(m.text)) for m in result.validation.errors]
    return result


def consent(host: Host, box: Mailbox) -> None:
    """The mailbox's user signs in (for the scopes of the mailbox's transport)."""
    sign_in(host, box, "microsoft", CALLBACK)


def message(to: str = "kunde@example.org", **headers: str) -> EmailMessage:
    msg = EmailMessage()
    msg["To"] = to
    msg["Subject"] = "Angebot"
    for key, value in headers.items():
        msg[key] = value
    msg.set_content("Guten Tag,\nanbei unser Angebot.\n")
    return msg


@pytest.fixture
def anna(host: Host) -> Mailbox:
    box = personal(host)
    save(host, box, transport="graph", auth_method="oauth2")
    consent(host, box)
    return box


def test_the_user_s_consent_sends_through_me_sendmail(host: Host, anna: Mailbox,
                                                      graph: GraphTestServer) -> None:
    result = host.send(anna, message(Cc="chef@example.org", Bcc="archiv@example.org"))
    assert result.accepted == ["kunde@example.org", "chef@example.org", "archiv@example.org"]
    received = graph.received[0]
    assert received.path == "/v1.0/me/sendMail" and received.content_type == "text/plain"
    assert received.account == ANNA and MAIL_SEND in received.token_scope.split()
    # recipients come from the MIME headers: Bcc travels in the message, not in To/Cc
    assert sorted(received.recipients) == ["archiv@example.org", "chef@example.org",
                                           "kunde@example.org"]
    assert "Anna Kühn" in str(received.message["From"])
    assert received.message["Message-ID"] == result.message_id


def test_the_test_mail_shows_token_request_and_response(host: Host, anna: Mailbox,
                                                        graph: GraphTestServer) -> None:
    result = host.run_action(anna, "smtp.test", {}, actor="admin")
    assert result.ok, result.as_dict()
    steps = result.as_dict("de")["steps"]
    assert [s["id"] for s in steps] == ["token", "request", "response"]
    assert steps[0]["detail"]["account"] == ANNA
    assert steps[1]["detail"]["url"] == f"{graph.url}/v1.0/me/sendMail"
    assert steps[2]["reply_code"] == 202 and steps[2]["detail"]["headers"]["request-id"]
    assert "Sent" in str(result.note) or "Gesendet" in str(result.note)
    body = graph.received[0].message.get_body(("plain",))
    assert body is not None and "Microsoft Graph" in body.get_content()
    assert "E-mail port" not in body.get_content()  # no SMTP settings in a Graph test


def test_app_only_sends_as_a_shared_mailbox_it_was_given(host: Host,
                                                         graph: GraphTestServer) -> None:
    box = host.mailboxes.create_shared(SHARED, "Vertrieb", actor="admin")
    save(host, box, transport="graph", auth_method="oauth2_app")
    host.send(host.mailboxes.get(box.id), message())  # type: ignore[arg-type]
    received = graph.received[0]
    assert received.path == f"/v1.0/users/{SHARED}/sendMail"
    assert "https://graph.microsoft.com/.default" in received.token_scope


def test_app_only_for_a_mailbox_outside_the_app_s_scope_is_explained(
        host: Host, graph: GraphTestServer) -> None:
    box = host.mailboxes.create_shared(OTHER_SHARED, "Einkauf", actor="admin")
    save(host, box, transport="graph", auth_method="oauth2_app")
    with pytest.raises(DeliveryError) as caught:
        host.send(box, message())
    explanation = caught.value.explanation
    assert explanation is not None and explanation.id == "m365.graph.access_denied"
    assert (explanation.retry.value, explanation.scope.value) == ("after_fix", "mailbox")
    assert not graph.received


@pytest.mark.parametrize(("status", "code", "headers", "expected", "retry", "scope"), [
    (403, "ErrorAccessDenied", {}, "m365.graph.access_denied", "after_fix", "mailbox"),
    (403, "ErrorSendAsDenied", {}, "m365.graph.send_as_denied", "no", "message"),
    (404, "MailboxNotEnabledForRESTAPI", {}, "m365.graph.mailbox_not_enabled", "after_fix",
     "mailbox"),
    (404, "ErrorInvalidUser", {}, "m365.graph.invalid_user", "after_fix", "mailbox"),
    (413, "ErrorMessageSizeExceeded", {}, "m365.graph.too_large", "no", "message"),
    (429, "TooManyRequests", {"Retry-After": "7"}, "m365.graph.throttled", "later",
     "mailbox"),
    (503, "ServiceNotAvailable", {"Retry-After": "30"}, "m365.graph.unavailable", "later",
     "mailbox"),
    (504, "GatewayTimeout", {}, "m365.graph.unavailable", "later", "message"),
])
def test_each_documented_error_is_explained_with_its_retry(
        host: Host, anna: Mailbox, graph: GraphTestServer, status: int, code: str,
        headers: dict[str, str], expected: str, retry: str, scope: str) -> None:
    graph.fail_next(status, code, headers=headers)
    with pytest.raises(DeliveryError) as caught:
        host.send(anna, message())
    error = caught.value
    assert error.explanation is not None and error.explanation.id == expected
    assert (error.explanation.retry.value, error.explanation.scope.value) == (retry, scope)
    assert error.failure.step == "response" and error.failure.reply is not None
    assert error.failure.reply.code == status and code in error.failure.reply.text
    if "Retry-After" in headers:
        assert error.explanation.retry_after_seconds == int(headers["Retry-After"])
    assert error.outcome_unknown is (status == 504)  # the gateway gave up: it may be sent
    with language("de"):
        assert str(error.explanation.cause) != str(error.explanation.as_dict("en")["cause"])


def test_a_401_renews_the_token_once_then_sends(host: Host, anna: Mailbox,
                                                graph: GraphTestServer,
                                                oauth_server: OAuthTestServer) -> None:
    refreshes = oauth_server.grants["refresh_token"]
    graph.fail_next(401, "InvalidAuthenticationToken", "Access token has expired")
    host.send(anna, message())
    assert oauth_server.grants["refresh_token"] == refreshes + 1
    assert len(graph.received) == 1 and graph.requests == 2


def test_a_second_401_is_explained_and_not_retried_again(host: Host, anna: Mailbox,
                                                         graph: GraphTestServer) -> None:
    graph.fail_next(401, "InvalidAuthenticationToken", times=2)
    with pytest.raises(DeliveryError) as caught:
        host.send(anna, message())
    assert caught.value.explanation is not None
    assert caught.value.explanation.id == "m365.graph.unauthorized"
    assert graph.requests == 2
    assert [s.id for s in caught.value.steps].count("token") == 2


def test_a_from_the_account_may_not_use_gets_the_send_as_explanation(
        host: Host, anna: Mailbox, graph: GraphTestServer) -> None:
    with pytest.raises(DeliveryError) as caught:
        host.send(anna, message(From="geschaeftsfuehrung@contoso-gmbh.de"))
    explanation = caught.value.explanation
    assert explanation is not None and explanation.id == "m365.graph.send_as_denied"
    assert explanation.field == "email" and explanation.retry.value == "no"
    graph.send_as[ANNA] = {"geschaeftsfuehrung@contoso-gmbh.de"}  # granted "Send As"
    host.send(anna, message(From="geschaeftsfuehrung@contoso-gmbh.de"))
    assert len(graph.received) == 1


def test_a_message_too_large_for_one_request_is_refused_before_sending(
        host: Host, anna: Mailbox, graph: GraphTestServer) -> None:
    big = message()
    big.add_attachment(b"\0" * (3 * 1024 * 1024), maintype="application",
                       subtype="octet-stream", filename="scan.pdf")
    with pytest.raises(DeliveryError) as caught:
        host.send(anna, big)
    assert caught.value.explanation is not None
    assert caught.value.explanation.id == "m365.graph.request_too_large"
    assert caught.value.explanation.retry.value == "no"
    assert graph.requests == 0


def test_the_token_goes_only_to_an_https_endpoint(host: Host) -> None:
    result = host.save_section(None, "oauth_microsoft", {"graph_url": "http://127.0.0.1:1"},
                               actor="admin")
    assert not result.saved
    assert [m.field for m in result.validation.errors] == ["graph_url"]


def test_the_outbox_waits_as_a_429_s_retry_after_asks(host: Host, anna: Mailbox,
                                                      graph: GraphTestServer) -> None:
    clock = Clock()
    outbox_id = host.outbox.enqueue(anna, message())
    graph.fail_next(429, "ApplicationThrottled", headers={"Retry-After": "120"})
    worker = Worker(host, clock=clock)
    worker.run_once()
    row = host.outbox.get(outbox_id)
    assert row is not None and row.status == "queued" and row.attempts == 0
    with host.sessions() as s:
        state = s.get(MailboxQueue, anna.id)
        assert state is not None and state.paused_until is not None
        paused_for = (state.paused_until.replace(tzinfo=dt.UTC) - utcnow()).total_seconds()
    assert 100 < paused_for <= 121
    clock.offset = dt.timedelta(seconds=60)
    worker.run_once()
    assert host.outbox.get(outbox_id).status == "queued"  # type: ignore[union-attr]
    clock.offset = dt.timedelta(seconds=125)
    worker.run_once()
    assert host.outbox.get(outbox_id).status == "sent"  # type: ignore[union-attr]
    assert len(graph.received) == 1


def test_the_outbox_keeps_its_guarantees_through_graph(host: Host, anna: Mailbox,
                                                       graph: GraphTestServer) -> None:
    ids = [host.outbox.enqueue(anna, message(to=f"kunde{i}@example.org")) for i in range(5)]
    graph.fail_next(403, "ErrorSendAsDenied")
    Worker(host).run_once()
    statuses = [host.outbox.get(i).status for i in ids]  # type: ignore[union-attr]
    assert statuses == ["failed", "sent", "sent", "sent", "sent"]
    assert len(graph.received) == 4


@pytest.fixture
def smtp(smtp_server: Callable[..., SmtpTestServer],
         oauth_server: OAuthTestServer) -> SmtpTestServer:
    return smtp_server("starttls", extra_auth={"XOAUTH2": xoauth2_authenticator(
        oauth_server, SMTP_SEND)})


def test_switching_smtp_to_graph_and_back_keeps_address_and_audit(
        host: Host, graph: GraphTestServer, smtp: SmtpTestServer) -> None:
    box = personal(host)
    save(host, box, username=ANNA, host="127.0.0.1", port=smtp.port, security="tls",
         auth_method="oauth2")
    consent(host, box)
    assert host.run_action(box, "smtp.test", {}, actor="admin").ok
    assert len(smtp.messages) == 1

    changed = save(host, box, transport="graph", auth_method="oauth2")
    assert changed.changes == {"transport": ["smtp", "graph"]}
    # the SMTP consent does not cover Graph: "Anmeldung erneuern", and the test says so
    result = host.run_action(box, "smtp.test", {}, actor="admin")
    assert not result.ok and result.failed_step == "token"
    assert result.explanation is not None
    assert result.explanation.id == "smtp.oauth.scope_missing"
    with language("de"):
        shown = {h.id: str(h.body) for h in host.section_help(box, "smtp")}
    state = shown["oauth.microsoft.state"]  # "Anmeldung erneuern", why, in German
    assert "Anmeldung erneuern" in state and "Versand über Microsoft Graph" in state
    assert "https://graph.microsoft.com/Mail.Send" in state
    consent(host, box)  # signs in for Mail.Send now
    assert host.run_action(box, "smtp.test", {}, actor="admin").ok
    assert len(graph.received) == 1

    loaded = host.section("smtp").load(host.context(box, "admin"))
    assert (loaded["transport"], loaded["host"], loaded["port"], loaded["security"]) == (
        "graph", "127.0.0.1", smtp.port, "tls")  # the SMTP settings stay while hidden
    # back to SMTP: the form sends the hidden fields as they were
    save(host, box, **{k: loaded[k] for k in ("username", "host", "port", "security")},
         transport="smtp", auth_method="oauth2")
    fresh = host.mailboxes.get(box.id)
    assert fresh is not None and fresh.address == ANNA and fresh.transport == ""
    saves = [e.details for e in host.audit.entries("mailbox", str(box.id))
             if e.action == "section.smtp.save"]
    assert {"transport": ["smtp", "graph"]} in saves
    assert {"transport": ["graph", "smtp"]} in saves
    with host.sessions() as s:
        row = s.get(OAuthConnection, box.id)
        assert row is not None and row.status == "reauth"  # Graph's consent: not SMTP's


def test_the_choice_is_offered_only_with_a_configured_client(host: Host) -> None:
    box = personal(host)
    save(host, box, username=ANNA, host="smtp.office365.com", port=587, security="tls",
         password="pw-1")
    ctx = host.context(box, "admin")
    fields = {f.id: f for f in host.section("smtp").fields(ctx)}
    assert [c.value for c in fields["transport"].choices] == ["smtp", "graph"]
    assert fields["host"].shown_when == ("transport", ("smtp",))
    other = host.users.add("max", email="max@example.org")
    plain = host.mailboxes.personal(other)
    save(host, plain, username="max@example.org", host="mail.example.org", port=587,
         security="tls", password="pw-2")
    assert "transport" not in {f.id for f in host.section("smtp").fields(
        host.context(plain, "admin"))}
    refused = host.save_section(plain, "smtp", {"email": plain.address, "transport": "graph",
                                                "auth_method": "oauth2"}, actor="admin")
    assert not refused.saved
    assert "transport" in [m.field for m in refused.validation.errors]


def test_graph_needs_an_oauth2_sign_in(host: Host) -> None:
    box = personal(host)
    with language("de"):
        result = host.save_section(box, "smtp", {"email": ANNA, "transport": "graph",
                                                 "auth_method": "password"}, actor="admin")
        assert not result.saved
        errors = {m.field: str(m.text) for m in result.validation.errors}
    assert errors == {"auth_method": "Microsoft Graph meldet sich mit OAuth2 an: Wählen Sie "
                                     "eine Anmeldung mit OAuth2."}


def test_the_mime_body_is_base64_as_graph_requires(host: Host, anna: Mailbox,
                                                   graph: GraphTestServer) -> None:
    host.send(anna, message())
    raw = graph.received[0].raw
    assert base64.b64encode(raw)  # decoded by the server: it was valid base64
    assert raw.startswith(b"To: ") or b"\r\nTo: " in raw or b"\nTo: " in raw


def test_the_token_shows_in_no_step_log_error_or_log(host: Host, anna: Mailbox,
                                                    graph: GraphTestServer,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    graph.fail_next(403, "ErrorAccessDenied")
    result = host.run_action(anna, "smtp.test", {}, actor="admin")
    assert not result.ok
    graph.fail_next(401, "InvalidAuthenticationToken", times=2)
    with pytest.raises(DeliveryError) as caught:
        host.send(anna, message())
    token = oauth_of(host).access_token(anna).token.reveal()
    shown = json.dumps([result.as_dict("de"), result.as_dict("en")], default=str)
    # the local authorization server's grants log what they issue; falcana's side does not
    ours = "\n".join(f"{r.name} {r.getMessage()}" for r in caplog.records
                     if not r.name.startswith("authlib.oauth2.rfc6749.grants"))
    for text in (shown, ours, str(caught.value), repr(caught.value.failure),
                 json.dumps([e.details for e in host.audit.entries()], default=str)):
        assert token not in text


def test_a_connection_that_outlives_its_token_renews_it_before_sending(
        host: Host, anna: Mailbox, graph: GraphTestServer,
        oauth_server: OAuthTestServer) -> None:
    connection: Any = host.transport(anna).open()
    try:
        connection.send(message())
        # an hour later, on the same connection: the token in hand runs out
        connection.token = dataclasses.replace(connection.token, expires_at=utcnow())
        with host.transaction() as s:
            s.execute(update(OAuthConnection).where(
                OAuthConnection.mailbox_id == anna.id).values(expires_at=utcnow()))
        refreshes = oauth_server.grants["refresh_token"]
        connection.send(message())
    finally:
        connection.close()
    assert oauth_server.grants["refresh_token"] == refreshes + 1
    assert [s.id for s in connection.steps] == ["token", "request", "response"]
    assert connection.steps[0].detail["source"] == "refreshed"
    assert graph.requests == 2  # no 401 on the way


def test_the_cli_switches_a_shared_mailbox_to_graph_and_tests_it(
        host: Host, graph: GraphTestServer, falcana_cli: Callable[..., Any]) -> None:
    box = host.mailboxes.create_shared(SHARED, "Vertrieb", actor="admin")
    save(host, box, username=SHARED, host="smtp.office365.com", port=587, security="tls",
         password="Vertrieb-Pw-1")
    done = falcana_cli("mail", "set", SHARED, "--transport", "graph",
                       "--auth-method", "oauth2_app")
    assert done.exit_code == 0, done.output
    shown = falcana_cli("mail", "show", SHARED, lang="de")
    assert "Versand über: graph" in shown.stdout
    assert "Postausgangsserver (SMTP): smtp.office365.com" in shown.stdout  # kept
    tested = falcana_cli("mail", "test", SHARED, "--json")
    document = json.loads(tested.stdout)
    assert tested.exit_code == 0 and document["ok"]
    assert [s["id"] for s in document["steps"]] == ["token", "request", "response"]
    assert graph.received[0].path == f"/v1.0/users/{SHARED}/sendMail"
    refused = falcana_cli("mail", "set", SHARED, "--auth-method", "password")
    assert refused.exit_code == 2 and "Sign-in:" in refused.stderr  # the field by its label


def test_the_popup_hides_the_smtp_fields_and_the_password_for_graph(host: Host,
                                                                    anna: Mailbox) -> None:
    from falcana_core.api.web import render_section

    with language("de"):
        html = str(render_section(host, anna, host.section("smtp"), actor="admin"))
    for field in ("host", "port", "security", "username", "password"):
        assert f'data-field="{field}" data-shown-when="transport"' in html
        assert re.search(rf'data-field="{field}"[^>]*hidden>', html), field
    assert re.search(r'<option value="password"[^>]*hidden disabled>', html)
    assert re.search(r'<option value="graph" selected>Microsoft Graph</option>', html)
    assert 'data-field="email"' in html and 'data-field="email" hidden' not in html


def test_umlauts_and_an_international_address_reach_graph_intact(
        host: Host, anna: Mailbox, graph: GraphTestServer) -> None:
    host.send(anna, message(to="Jürgen Müßig <juergen@example.org>"))
    received = graph.received[0]
    assert b"=?utf-8?" in received.raw  # RFC 2047: an ASCII message for an ASCII address
    assert str(received.message["To"]) == "Jürgen Müßig <juergen@example.org>"
    assert str(received.message["From"]) == "Anna Kühn <anna@contoso-gmbh.de>"
    host.send(anna, message(to="jürgen@müller.example"))
    assert graph.received[1].message["To"].addresses[0].addr_spec == "jürgen@müller.example"
