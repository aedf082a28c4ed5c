"""The mailbox user's OAuth2 consent round trip, in a real browser: "Meine Einstellungen" >
"Mit Microsoft anmelden" > the authorization server > back > "Test-e-mail senden"."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from falcana_oauth.testing.authorization import OAuthTestServer, xoauth2_authenticator

from falcana_core.host import Host
from falcana_core.testing import make_config
from falcana_core.testing.net import free_port

MS_SMTP = "https://outlook.office.com/SMTP.Send"
ANNA = "anna@contoso-gmbh.de"


@pytest.fixture
def oauth(oauth_server: OAuthTestServer) -> OAuthTestServer:
    return oauth_server


def test_consent_round_trip_then_test_mail(chromium: Any, tmp_path: Path, oauth: OAuthTestServer,
                                           dns_server: Any, smtp_server: Any,
                                           test_ca_bundle: Path, request: Any, log_in: Any) -> None:
    serve = request.getfixturevalue("serve_falcana")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    oauth.add_client("falcana-ms", "secret-1", scopes={MS_SMTP, "offline_access", "openid",
                                                       "email"},
                     redirect_uris=[f"{base}/plugins/oauth/microsoft/callback"])
    dns_server.set_mx("contoso-gmbh.de", ["contoso-gmbh-de.mail.protection.outlook.com"])
    smtp = smtp_server("starttls", extra_auth={"XOAUTH2": xoauth2_authenticator(oauth, MS_SMTP)})
    data = tmp_path / "data"
    host = Host.start(make_config(data, ca_bundle=test_ca_bundle,
                                  dns_servers=(dns_server.address,)))
    host.save_section(None, "oauth_microsoft", {"client_id": "falcana-ms",
                                                "client_secret": "secret-1",
                                                "tenant": "organizations",
                                                "authority": oauth.url,
                                                "smtp_servers": "127.0.0.1"}, actor="admin")
    user = host.users.add("anna", first_name="Anna", last_name="Kühn", email=ANNA,
                          password="Anna-Pw-1")
    box = host.mailboxes.personal(user)
    assert host.save_section(box, "smtp", {"email": ANNA, "username": ANNA, "password": "",
                                           "host": "127.0.0.1", "port": smtp.port,
                                           "security": "tls", "auth_method": "oauth2"},
                             actor="admin").saved
    host.close()
    url = serve(data, {"FALCANA_CA_BUNDLE": str(test_ca_bundle),
                       "FALCANA_DNS_SERVERS": dns_server.address}, port)
    # the user's browser trusts the authorization server's certificate (the test CA)
    page = chromium.new_context(locale="de-DE", ignore_https_errors=True).new_page()
    log_in(page, url, "anna", "Anna-Pw-1")
    assert page.locator("h1").inner_text() == "Meine Einstellungen"
    assert "Noch nicht angemeldet" in page.locator(".context-help").first.inner_text()
    page.click("button.action[data-action='oauth.microsoft.sign_in']")
    page.wait_for_url(f"{oauth.url}/**")
    assert page.locator("#account").input_value() == ANNA  # login_hint
    page.click("#approve")
    page.wait_for_url(f"{url}/plugins/oauth/microsoft/callback*")
    assert "Angemeldet" in page.locator("h1").inner_text()
    page.goto(url + "/me")
    assert "Verbunden als anna@contoso-gmbh.de" in page.content()
    page.click("button.action[data-action='smtp.test']")
    page.locator(".test-result.ok").wait_for()
    assert page.locator("tr.step[data-step='token']").count() == 1
    assert len(smtp.messages) == 1
