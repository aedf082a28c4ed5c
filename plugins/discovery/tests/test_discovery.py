"""Einstellungen ermitteln, source by source, against real local servers: the test kit's
DNS server (MX, SRV, A), an HTTPS autoconfig server with a certificate from the test CA,
SMTP servers on loopback for probing."""

from __future__ import annotations

import http.server
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import trustme
from falcana_discovery.engine import discoverer
from falcana_smtp_settings.testing.smtpd import SmtpTestServer

from falcana_core.host import Host
from falcana_core.i18n import text_in

CONFIG = """<?xml version="1.0"?>
<clientConfig version="1.1"><emailProvider id="{domain}">
  <domain>{domain}</domain><displayName>Firma</displayName>
  <outgoingServer type="smtp"><hostname>{host}</hostname><port>{port}</port>
    <socketType>SSL</socketType><authentication>password-cleartext</authentication>
    <username>%EMAILLOCALPART%</username></outgoingServer>
  <incomingServer type="imap"><hostname>imap.{domain}</hostname><port>993</port>
    <socketType>SSL</socketType><username>%EMAILADDRESS%</username></incomingServer>
</emailProvider></clientConfig>"""


class AutoconfigServer:
    """HTTPS (or plain HTTP) on loopback answering every GET with ``body``."""

    def __init__(self, body: str, ctx: ssl.SSLContext | None, redirect: str = "") -> None:
        self.paths: list[str] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.paths.append(self.path)
                if redirect:
                    self.send_response(302)
                    self.send_header("Location", redirect)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                data = body.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/xml")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if ctx is not None:
            self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def autoconfig(test_ca: trustme.CA) -> Iterator[Callable[..., AutoconfigServer]]:
    servers: list[AutoconfigServer] = []

    def start(body: str, name: str | None, tls: bool = True,
              redirect: str = "") -> AutoconfigServer:
        ctx = None
        if tls:
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            test_ca.issue_cert(name or "autoconfig.example", "127.0.0.1").configure_cert(ctx)
        server = AutoconfigServer(body, ctx, redirect)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def discover(host: Host, address: str, **kwargs: Any) -> Any:
    return discoverer(host).discover(address, use_cache=False, **kwargs)


def first(result: Any) -> tuple[Any, ...]:
    found = result.proposal
    assert found is not None, result.tried
    return (found.values["host"], found.values["port"], found.values["security"],
            found.values["username"], found.source)


def test_the_isp_database_answers_without_any_network(falcana_host: Host,
                                                      dns_server: Any) -> None:
    before = len(dns_server.queries)
    result = discover(falcana_host, "max.muster@online.de")
    assert first(result) == ("smtp.1und1.de", 465, "ssl", "max.muster@online.de", "ispdb")
    assert [(f.values["port"], f.values["security"]) for f in result.found] == [
        (465, "ssl"), (587, "tls")]
    assert "1&1" in str(result.proposal.source_label)
    [imap] = result.also  # and the IMAP server for the copy in Sent, from the same entry
    assert (imap.section, dict(imap.values)) == ("sent_copy", {
        "host": "imap.1und1.de", "port": 993, "security": "ssl", "username": ""})
    assert len(dns_server.queries) == before  # no DNS, no connection
    imap = [t.source for t in result.tried]
    assert imap == ["plugin", "ispdb"]


def test_a_provider_plugin_beats_the_database_for_its_domains(falcana_host: Host) -> None:
    result = discover(falcana_host, "anna@gmail.com")
    assert first(result)[:3] == ("smtp.gmail.com", 465, "ssl")
    assert result.proposal.source == "plugin"


def test_a_company_domain_hosted_at_a_known_provider_is_found_by_mx(
        falcana_host: Host, dns_server: Any) -> None:
    dns_server.set_mx("meine-firma.example", ["mx01.kundenserver.de"])
    result = discover(falcana_host, "info@meine-firma.example")
    assert first(result) == ("smtp.1und1.de", 465, "ssl", "info@meine-firma.example", "mx")
    assert "mx01.kundenserver.de" in str(result.proposal.source_label)


def test_srv_records_name_the_submission_server(falcana_host: Host, dns_server: Any) -> None:
    dns_server.set_srv("_submissions._tcp.srv-firma.example", [("mail.srv-firma.example", 465)])
    dns_server.set_srv("_submission._tcp.srv-firma.example", [("mail.srv-firma.example", 587)])
    dns_server.set_address("mail.srv-firma.example", ["127.0.0.1"])
    dns_server.set_srv("_imaps._tcp.srv-firma.example", [("mail.srv-firma.example", 993)])
    result = discover(falcana_host, "info@srv-firma.example")
    assert [(a.section, a.values["port"], a.values["security"]) for a in result.also] == [
        ("sent_copy", 993, "ssl")]
    assert [(f.values["host"], f.values["port"], f.values["security"], f.source)
            for f in result.found] == [("mail.srv-firma.example", 465, "ssl", "srv"),
                                       ("mail.srv-firma.example", 587, "tls", "srv")]


def test_the_domains_own_autoconfig_over_verified_https(
        falcana_host: Host, dns_server: Any, autoconfig: Callable[..., AutoconfigServer]) -> None:
    dns_server.set_address("autoconfig.ac-firma.example", ["127.0.0.1"])
    dns_server.set_address("smtp.ac-firma.example", ["127.0.0.1"])
    dns_server.set_address("imap.ac-firma.example", ["127.0.0.1"])
    server = autoconfig(CONFIG.format(domain="ac-firma.example", host="smtp.ac-firma.example",
                                      port=465), "autoconfig.ac-firma.example")
    result = discover(falcana_host, "lena.berg@ac-firma.example", https_port=server.port)
    assert first(result) == ("smtp.ac-firma.example", 465, "ssl", "lena.berg", "autoconfig")
    [imap] = result.also  # the same file's IMAP server, for the copy in Sent
    assert dict(imap.values) == {"host": "imap.ac-firma.example", "port": 993,
                                 "security": "ssl", "username": "lena.berg@ac-firma.example"}
    assert server.paths[0].startswith("/mail/config-v1.1.xml?emailaddress=lena.berg")


def test_plain_http_autoconfig_is_not_trusted(
        falcana_host: Host, dns_server: Any, autoconfig: Callable[..., AutoconfigServer]) -> None:
    dns_server.set_address("autoconfig.plain-firma.example", ["127.0.0.1"])
    server = autoconfig(CONFIG.format(domain="plain-firma.example", host="smtp.evil.example",
                                      port=465), None, tls=False)
    result = discover(falcana_host, "x@plain-firma.example", https_port=server.port,
                      budget=3, probe_ports=())
    assert all(f.source != "autoconfig" for f in result.found)
    assert {t.source: t.outcome for t in result.tried}["autoconfig"] == "nothing"


def test_an_autoconfig_pointing_inside_is_refused(
        falcana_host: Host, dns_server: Any, autoconfig: Callable[..., AutoconfigServer]) -> None:
    dns_server.set_address("autoconfig.inside-firma.example", ["127.0.0.1"])
    dns_server.set_address("db.inside-firma.example", ["10.1.2.3"])
    server = autoconfig(CONFIG.format(domain="inside-firma.example",
                                      host="db.inside-firma.example", port=5432),
                        "autoconfig.inside-firma.example")
    result = discover(falcana_host, "x@inside-firma.example", https_port=server.port,
                      budget=3, probe_ports=())
    assert server.paths  # asked, and answered ...
    assert all(f.values["host"] != "db.inside-firma.example" for f in result.found)
    tried = {t.source: t for t in result.tried}["autoconfig"]
    assert tried.outcome == "nothing" and "refused" in text_in(tried.detail, "en")  # not proposed


def test_probing_finds_a_server_with_verified_tls_and_auth(
        falcana_host: Host, dns_server: Any, test_ca: trustme.CA,
        smtp_server: Callable[..., SmtpTestServer]) -> None:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    test_ca.issue_cert("mail.probe-firma.example").configure_cert(ctx)
    server = smtp_server("ssl", users={"x@probe-firma.example": "pw"}, ssl_context=ctx)
    dns_server.set_address("mail.probe-firma.example", ["127.0.0.1"])
    dns_server.set_address("smtp.probe-firma.example", ["127.0.0.1"])  # wrong certificate
    result = discover(falcana_host, "x@probe-firma.example",
                      probe_ports=((server.port, "ssl"),))
    assert first(result) == ("mail.probe-firma.example", server.port, "ssl",
                             "x@probe-firma.example", "probe")
    assert len(result.found) == 1  # smtp.<domain> presented another name: not proposed
    assert result.also == []  # no IMAP server answered
    assert server.messages == []  # nothing but EHLO and QUIT


def test_probing_finds_the_imap_server_for_the_copy_too(
        falcana_host: Host, dns_server: Any, test_ca: trustme.CA,
        smtp_server: Callable[..., SmtpTestServer],
        imap_server: Callable[..., Any]) -> None:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    test_ca.issue_cert("mail.imap-firma.example").configure_cert(ctx)
    smtp = smtp_server("ssl", users={"x@imap-firma.example": "pw"}, ssl_context=ctx)
    imap = imap_server({"x@imap-firma.example": "pw"}, names=("imap.imap-firma.example",))
    for name in ("mail.imap-firma.example", "imap.imap-firma.example"):
        dns_server.set_address(name, ["127.0.0.1"])
    result = discover(falcana_host, "x@imap-firma.example", probe_ports=((smtp.port, "ssl"),),
                      imap_port=imap.ssl_port)
    assert first(result)[0] == "mail.imap-firma.example"
    [copy] = result.also
    assert dict(copy.values) == {"host": "imap.imap-firma.example", "port": imap.ssl_port,
                                 "security": "ssl", "username": ""}


def test_nothing_found_says_what_was_tried_within_the_budget(falcana_host: Host) -> None:
    started = time.monotonic()
    result = discover(falcana_host, "x@nowhere-at-all.example", budget=3)
    assert result.found == []
    assert [t.source for t in result.tried] == ["plugin", "ispdb", "autoconfig", "srv", "mx",
                                                "probe"]
    assert all(t.outcome in ("nothing", "failed") for t in result.tried)
    assert time.monotonic() - started < 4.5


def test_the_username_form_of_the_database_is_applied(falcana_host: Host) -> None:
    from falcana_discovery import ispdb

    local_part = [d for d, p in ispdb.index().items()
                  if p.smtp and p.smtp[0].username == "%EMAILLOCALPART%"]
    assert local_part, "the database has providers that log in with the local part"
    result = discover(falcana_host, f"erika.muster@{local_part[0]}")
    assert result.proposal.values["username"] == "erika.muster"


def test_every_placeholder_of_every_bundled_entry_is_filled_in(falcana_host: Host) -> None:
    """The format's %EMAILADDRESS%, %EMAILLOCALPART% and %EMAILDOMAIN% stand in host names,
    usernames and display names (inbox.lt: "mail.%EMAILDOMAIN%"): a proposal never
    carries one, for any domain of the bundled database."""
    import re

    from falcana_discovery import ispdb

    left = re.compile(r"%[A-Za-z]+%")
    for domain, provider in sorted(ispdb.index().items()):
        filled = provider.for_address(f"erika.muster@{domain}")
        texts = [filled.name, *(t for s in (*filled.smtp, *filled.imap)
                                for t in (s.host, s.username))]
        assert not [t for t in texts if left.search(t)], (domain, texts)
    result = discover(falcana_host, "max@inbox.lt")
    assert first(result)[0] == "mail.inbox.lt"
    assert "%" not in str(result.proposal.source_label)


def test_the_command_line_detects_and_sets(falcana_cli: Callable[..., Any],
                                           falcana_host: Host) -> None:
    import json

    shown = falcana_cli("mail", "detect", "max@online.de", "--json")
    assert shown.exit_code == 0, shown.stderr
    doc = json.loads(shown.stdout)
    assert doc["version"] == 1 and doc["found"][0]["values"]["host"] == "smtp.1und1.de"
    assert [t["source"] for t in doc["tried"]] == ["plugin", "ispdb"]
    falcana_host.users.add("max", email="max@online.de")
    assert falcana_cli("mail", "set", "max", "--detect").exit_code == 0
    values = falcana_host.section_values(falcana_host.mailboxes.personal(
        falcana_host.users.by_login("max")), "smtp")
    assert (values["host"], values["port"], values["security"]) == ("smtp.1und1.de", 465, "ssl")


def test_bulk_detection_fills_mailboxes_without_a_server(falcana_cli: Callable[..., Any],
                                                         falcana_host: Host) -> None:
    import json

    for login, address in (("a", "a@online.de"), ("b", "b@posteo.de"),
                           ("c", "c@nowhere-at-all.example")):
        falcana_host.users.add(login, email=address)
    done = falcana_cli("mail", "detect", "--from-users", "--apply", "--json")
    doc = json.loads(done.stdout)
    saved = {r["address"]: r["saved"] for r in doc["mailboxes"]}
    assert saved == {"a@online.de": True, "b@posteo.de": True,
                     "c@nowhere-at-all.example": False}
    again = json.loads(falcana_cli("mail", "detect", "--from-users", "--json").stdout)
    assert [r["address"] for r in again["mailboxes"]] == ["c@nowhere-at-all.example"]


def test_the_button_and_the_command_ask_the_port_a_deployment_sets(
        falcana_host: Host, dns_server: Any, autoconfig: Callable[..., AutoconfigServer],
        falcana_cli: Callable[..., Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """The popup's button (as the mailbox's own user) and ``falcana mail detect`` find the
    domain's autoconfig: the hostile-server matrix relies on this to reach its servers."""
    from falcana_discovery.engine import Discoverer

    from falcana_core.web import create_app

    for name in ("autoconfig", "smtp", "imap"):
        dns_server.set_address(f"{name}.port-firma.example", ["127.0.0.1"])
    server = autoconfig(CONFIG.format(domain="port-firma.example", host="smtp.port-firma.example",
                                      port=465), "autoconfig.port-firma.example")
    monkeypatch.setattr(Discoverer, "https_port", server.port)
    monkeypatch.setattr(Discoverer, "probe_ports", ())
    shown = falcana_cli("mail", "detect", "lena@port-firma.example")
    assert shown.exit_code == 0, shown.stdout + shown.stderr
    assert "smtp.port-firma.example:465 ssl" in shown.stdout
    user = falcana_host.users.add("lena", email="lena@port-firma.example", password="Lena-Pw-1")
    box = falcana_host.mailboxes.personal(user)
    client = create_app(falcana_host, WTF_CSRF_ENABLED=False).test_client()
    client.post("/login", data={"login": "lena", "password": "Lena-Pw-1"})
    page = client.post(f"/mailboxes/{box.id}/actions/discovery.detect",
                       data={"email": box.address}).get_data(as_text=True)
    assert "data-fill=" in page and "smtp.port-firma.example" in page
    assert len(server.paths) == 2  # once each: the command line's host and the web's


def test_setting_up_users_is_not_throttled_but_tests_are(falcana_host: Host,
                                                        smtp_server: Callable[..., Any]) -> None:
    """Finding settings for user after user (on every typed address) never meets the
    test e-mail's limit; the limit still holds for connection tests."""
    from falcana_core.web import create_app

    falcana_host.users.add("admin", email="admin@firma.example", role="admin",
                           password="Admin-Pw-1")
    boxes = [falcana_host.mailboxes.personal(falcana_host.users.add(
        f"user{i}", email=f"user{i}@online.de")) for i in range(12)]
    client = create_app(falcana_host, WTF_CSRF_ENABLED=False).test_client()
    client.post("/login", data={"login": "admin", "password": "Admin-Pw-1"})
    for box in boxes:  # 12 in a minute: more than the 10 tests a minute allow
        answer = client.post(f"/mailboxes/{box.id}/actions/discovery.detect",
                             data={"email": box.address})
        assert answer.status_code == 200, answer.get_data(as_text=True)
        assert "smtp.1und1.de" in answer.get_data(as_text=True)
    statuses = [client.post(f"/mailboxes/{boxes[0].id}/actions/smtp.test",
                            data={"port": "99999"}).status_code for _ in range(11)]
    assert statuses[:10] == [200] * 10 and statuses[10] == 429


def test_without_the_plugin_the_popup_has_no_button_and_the_presets_stay(
        falcana_config: Any, falcana_host: Host) -> None:
    """docs/discovery.md, "Without the discovery plugin": the button goes, the provider's
    presets (from the provider plugins) stay."""
    from falcana_core.api.web import create_app

    falcana_host.users.add("admin", email="admin@example.com", role="admin", password="a-pw")
    gina = falcana_host.users.add("gina", email="gina@gmail.com")
    box_id = falcana_host.mailboxes.personal(gina).id

    def popup(host: Host) -> str:
        with create_app(host, WTF_CSRF_ENABLED=False).test_client() as client:
            client.post("/login", data={"login": "admin", "password": "a-pw"})
            return client.get(f"/mailboxes/{box_id}/popup").get_data(as_text=True)

    with_it = popup(falcana_host)
    assert 'data-action="discovery.detect"' in with_it
    falcana_host.set_plugin_enabled("discovery", False, actor="test")
    without = Host.start(falcana_config)
    try:
        page = popup(without)
    finally:
        without.close()
    assert 'data-action="discovery.detect"' not in page
    assert "smtp.gmail.com, 587" in page  # Gmail's presets, from its provider plugin


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16"])
def test_a_document_type_declaration_is_refused_in_any_encoding(encoding: str) -> None:
    """A hostile autoconfig server defines an entity and uses it as the host name; written
    in UTF-16 the bytes ``<!DOCTYPE`` appear nowhere, the parser must still refuse."""
    from falcana_discovery.clientconfig import ConfigError, parse

    hostile = CONFIG.format(domain="firma.example", host="&inside;", port=465).replace(
        '<?xml version="1.0"?>',
        f'<?xml version="1.0" encoding="{encoding}"?>'
        '<!DOCTYPE clientConfig [<!ENTITY inside "127.0.0.1">]>')
    with pytest.raises(ConfigError, match="document type"):
        parse(hostile.encode(encoding))
    # the same document without the declaration, in the same encoding, is read
    plain = CONFIG.format(domain="firma.example", host="smtp.firma.example", port=465)
    plain = plain.replace('<?xml version="1.0"?>',
                          f'<?xml version="1.0" encoding="{encoding}"?>')
    assert parse(plain.encode(encoding)).smtp[0].host == "smtp.firma.example"


def test_an_autoconfig_redirect_cannot_choose_a_port_or_tell_what_listens(
        falcana_host: Host, dns_server: Any, autoconfig: Callable[..., AutoconfigServer]) -> None:
    """With loopback allowed (as the tests run), a domain's autoconfig that redirects to
    127.0.0.1:PORT must not reach that port, and "Was versucht wurde" must read the same
    for a database, a closed port and a silent one."""
    from falcana_core.testing.net import ScriptedServer, SilentServer, closed_port

    redis = ScriptedServer(b"-NOAUTH Authentication required.\r\n")
    silent = SilentServer()
    seen: dict[str, str] = {}
    try:
        for name, port in (("redis", redis.port), ("silent", silent.port),
                           ("closed", closed_port())):
            domain = f"scan-{name}.example"
            dns_server.set_address(f"autoconfig.{domain}", ["127.0.0.1"])
            server = autoconfig("", f"autoconfig.{domain}",
                                redirect=f"https://127.0.0.1:{port}/")
            result = discover(falcana_host, f"x@{domain}", https_port=server.port,
                              budget=3, probe_ports=())
            assert server.paths
            tried = {t.source: t for t in result.tried}["autoconfig"]
            seen[name] = text_in(tried.detail, "en").replace(domain, "D")
        assert redis.connections == 0 and "NOAUTH" not in seen["redis"]
        assert seen["redis"] == seen["silent"] == seen["closed"], seen
        assert "another port" in seen["redis"]
        # nor to plain http, and a hop on the same port is checked again each time
        dns_server.set_address("autoconfig.hop-firma.example", ["127.0.0.1"])
        plain = autoconfig("", "autoconfig.hop-firma.example",
                           redirect="http://autoconfig.hop-firma.example/")
        result = discover(falcana_host, "x@hop-firma.example", https_port=plain.port,
                          budget=3, probe_ports=())
        tried = {t.source: t for t in result.tried}["autoconfig"]
        assert "not https" in text_in(tried.detail, "en")
    finally:
        redis.close()
        silent.close()
