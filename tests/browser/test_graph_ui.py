"""Choosing Microsoft Graph in a Microsoft 365 mailbox's settings, in a real browser:
"Versand über: Microsoft Graph" hides the SMTP fields, the mailbox's user signs in at the
local authorization server, and "Test-e-mail senden" goes through the local Graph."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from falcana_oauth.testing.authorization import OAuthTestServer
from falcana_providers_m365.testing import GraphTestServer

from falcana_core.host import Host
from falcana_core.testing import make_config
from falcana_core.testing.net import free_port

SMTP_SEND = "https://outlook.office.com/SMTP.Send"
MAIL_SEND = "https://graph.microsoft.com/Mail.Send"
ANNA = "anna@contoso-gmbh.de"
SCREENSHOTS = Path(__file__).parent.parent.parent / "docs" / "screenshots"


def test_choose_graph_sign_in_and_send_the_test_mail(
        chromium: Any, tmp_path: Path, oauth_server: OAuthTestServer, dns_server: Any,
        server_ssl_context: Any, test_ca_bundle: Path, request: Any, log_in: Any) -> None:
    serve = request.getfixturevalue("serve_falcana")
    graph = GraphTestServer(oauth_server, server_ssl_context).start()
    request.addfinalizer(graph.stop)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    oauth_server.add_client("falcana-ms", "secret-1", redirect_uris=[
        f"{base}/plugins/oauth/microsoft/callback"], scopes={
        SMTP_SEND, MAIL_SEND, "offline_access", "openid", "email"})
    dns_server.set_mx("contoso-gmbh.de", ["contoso-gmbh-de.mail.protection.outlook.com"])
    data = tmp_path / "data"
    host = Host.start(make_config(data, ca_bundle=test_ca_bundle,
                                  dns_servers=(dns_server.address,)))
    assert host.save_section(None, "oauth_microsoft", {
        "client_id": "falcana-ms", "client_secret": "secret-1", "tenant": "organizations",
        "authority": oauth_server.url, "graph_url": graph.url}, actor="admin").saved
    user = host.users.add("anna", first_name="Anna", last_name="Kühn", email=ANNA,
                          password="Anna-Pw-1")
    box = host.mailboxes.personal(user)
    assert host.save_section(box, "smtp", {
        "email": ANNA, "username": ANNA, "password": "M365-Passwort-1",
        "host": "smtp.office365.com", "port": 587, "security": "tls"}, actor="admin").saved
    host.close()
    url = serve(data, {"FALCANA_CA_BUNDLE": str(test_ca_bundle),
                       "FALCANA_DNS_SERVERS": dns_server.address}, port)

    # the user's browser trusts the authorization server's certificate (the test CA)
    page = chromium.new_context(locale="de-DE", ignore_https_errors=True).new_page()
    log_in(page, url, "anna", "Anna-Pw-1")
    form = page.locator("form.section-form[data-section='smtp']")
    assert form.locator("[data-field='host']").is_visible()
    form.locator("select[name='transport']").select_option(label="Microsoft Graph")
    assert not form.locator("[data-field='host']").is_visible()  # SMTP fields collapse
    assert not form.locator("[data-field='password']").is_visible()
    assert form.locator("[data-field='email']").is_visible()
    assert form.locator("[data-field='display_name']").is_visible()
    # the password is an SMTP sign-in: it goes, and OAuth2 is chosen in its place
    auth = form.locator("select[name='auth_method']")
    assert auth.input_value() == "oauth2"
    assert auth.locator("option[value='password']").is_disabled()
    form.locator("button[type=submit]").click()
    page.locator(".message.saved").wait_for()
    form = page.locator("form.section-form[data-section='smtp']")
    assert form.locator("select[name='transport']").input_value() == "graph"
    assert not form.locator("[data-field='host']").is_visible()
    assert "Versand über Microsoft Graph" in page.content()  # the help says when to use it

    page.click("button.action[data-action='oauth.microsoft.sign_in']")
    page.wait_for_url(f"{oauth_server.url}/**")
    assert "Mail.Send" in page.url and "SMTP.Send" not in page.url  # Graph's scope
    page.click("#approve")
    page.wait_for_url(f"{url}/plugins/oauth/microsoft/callback*")
    assert "Angemeldet" in page.locator("h1").inner_text()
    page.goto(url + "/me")
    page.click("button.action[data-action='smtp.test']")
    page.locator(".test-result.ok").wait_for()
    steps = page.locator("tr.step")
    assert [steps.nth(i).get_attribute("data-step") for i in range(steps.count())] == [
        "token", "request", "response"]
    response = page.locator("tr.step[data-step='response']").inner_text()
    assert "202" in response and "request-id: " in response  # for Microsoft's support
    assert len(graph.received) == 1 and graph.received[0].account == ANNA
    page.screenshot(path=str(SCREENSHOTS / "graph-test-mail.png"), full_page=True)
