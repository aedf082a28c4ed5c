"""falcana mail show|set|test: same validation, field errors on stderr, nothing half-saved."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from falcana_core.api import Config
from falcana_core.testing import make_config
from falcana_core.testing.net import closed_port

ADDRESS = "anna@example.com"
PASSWORD = "Anna-Pw-2026"


def setup_user(cli: Callable[..., Any]) -> None:
    assert cli("users", "add", "anna", "--first-name", "Anna", "--last-name", "Öz",
               "--email", ADDRESS).exit_code == 0


def test_set_show_and_test_through_a_real_server(falcana_cli: Callable[..., Any],
                                                 smtp_server: Callable[..., Any]) -> None:
    setup_user(falcana_cli)
    server = smtp_server("starttls", users={ADDRESS: PASSWORD})
    result = falcana_cli("mail", "set", "anna", "--host", "127.0.0.1", "--port",
                         str(server.port), "--security", "tls", "--password-stdin",
                         input=PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    shown = json.loads(falcana_cli("mail", "show", "anna", "--json").stdout)
    assert shown["password_set"] is True and PASSWORD not in json.dumps(shown)
    assert shown["port"] == server.port and shown["username"] == ADDRESS
    assert shown["display_name_effective"] == "Anna Öz"

    test = falcana_cli("mail", "test", "anna", "--json")
    assert test.exit_code == 0, test.output
    doc = json.loads(test.stdout)
    assert doc["version"] == 1 and doc["ok"] is True
    assert [s["id"] for s in doc["steps"]][:5] == ["resolve", "connect", "greeting", "ehlo",
                                                   "starttls"]
    assert {"id", "status", "duration_ms", "reply_code", "enhanced_status",
            "reply_text"} <= set(doc["steps"][0])
    assert len(server.messages) == 1

    human = falcana_cli("mail", "test", "anna", "--to", "chef@example.com", lang="de")
    assert human.exit_code == 0 and "Test bestanden" in human.stdout
    assert server.messages[-1].rcpt_tos == ["chef@example.com"]


def test_failed_test_exits_non_zero_with_explanation(falcana_cli: Callable[..., Any],
                                                     smtp_server: Callable[..., Any]) -> None:
    setup_user(falcana_cli)
    server = smtp_server("starttls", users={ADDRESS: "other"})
    falcana_cli("mail", "set", "anna", "--host", "127.0.0.1", "--port", str(server.port),
                "--password-stdin", input=PASSWORD + "\n")
    result = falcana_cli("mail", "test", "anna", "--json")
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert doc["failed_step"] == "auth"
    assert doc["explanation"]["id"] == "smtp.auth_failed"
    assert set(doc["explanation"]) >= {"id", "cause", "fix", "field", "retry", "scope"}
    human = falcana_cli("mail", "test", "anna", lang="de")
    assert "Ursache" in human.stdout and "Passwort" in human.stdout
    auth_line = next(line for line in human.stdout.splitlines() if "Anmeldung (AUTH)" in line
                     and line.startswith("✗"))
    assert auth_line.count("535") == 1, auth_line  # the server's reply, said once


def test_only_given_fields_change_and_errors_save_nothing(
        falcana_cli: Callable[..., Any]) -> None:
    setup_user(falcana_cli)
    assert falcana_cli("mail", "set", "anna", "--host", "mail.example.com").exit_code == 0
    assert falcana_cli("mail", "set", "anna", "--display-name", "Anna aus dem Vertrieb"
                       ).exit_code == 0
    shown = json.loads(falcana_cli("mail", "show", "anna", "--json").stdout)
    assert shown["host"] == "mail.example.com" and shown["display_name"] == (
        "Anna aus dem Vertrieb")
    bad = falcana_cli("mail", "set", "anna", "--port", "99999", "--host", "other.example.com",
                      lang="de")
    assert bad.exit_code == 2
    assert "e-mail Port: Der Port muss zwischen 1 und 65535 liegen." in bad.stderr
    assert json.loads(falcana_cli("mail", "show", "anna", "--json").stdout) == shown


def test_password_clear_and_a_pin_nobody_was_offered(falcana_cli: Callable[..., Any]) -> None:
    setup_user(falcana_cli)
    falcana_cli("mail", "set", "anna", "--host", "mail.example.com", "--password-stdin",
                input="x-1\n")
    assert json.loads(falcana_cli("mail", "show", "anna", "--json").stdout)["password_set"]
    assert falcana_cli("mail", "set", "anna", "--clear-password").exit_code == 0
    assert not json.loads(falcana_cli("mail", "show", "anna", "--json").stdout)["password_set"]
    fp = "AB:" * 31 + "AB"
    # only the certificate the mailbox's own failed test saw can be pinned: none yet
    refused = falcana_cli("mail", "set", "anna", "--pin-certificate", fp)
    assert refused.exit_code != 0 and "test" in refused.stderr
    assert json.loads(falcana_cli("mail", "show", "anna", "--json").stdout)[
        "pinned_certificate"] is None
    assert falcana_cli("mail", "set", "anna", "--unpin").exit_code == 0
    bad = falcana_cli("mail", "set", "anna", "--pin-certificate", "nothex")
    assert bad.exit_code == 2


def test_shared_mailbox_by_address_and_unknown_reference(
        falcana_cli: Callable[..., Any], falcana_host: Any) -> None:
    falcana_host.mailboxes.create_shared("info@example.com", "Info", actor="t")
    assert falcana_cli("mail", "set", "info@example.com", "--host", "mail.example.com"
                       ).exit_code == 0
    shown = json.loads(falcana_cli("mail", "show", "info@example.com", "--json").stdout)
    assert shown["display_name"] == "Info"
    missing = falcana_cli("mail", "show", "nobody")
    assert missing.exit_code == 2 and "nobody" in missing.stderr


def test_mail_explain_shows_what_the_plugins_say_about_a_reply(
        falcana_cli: Callable[..., Any]) -> None:
    """A provider plugin's rules, tried from the command line: Microsoft's 5.7.139 is its
    own explanation, a plain 535 the generic one."""
    ms = falcana_cli("mail", "explain", "535 5.7.139 Authentication unsuccessful, "
                     "SmtpClientAuthentication is disabled for the Mailbox.",
                     "--host", "smtp.office365.com", lang="de")
    assert ms.exit_code == 0, ms.output
    assert ms.stdout.splitlines()[0].startswith("m365.") and "Ursache:" in ms.stdout
    generic = falcana_cli("mail", "explain", "535 5.7.8 Authentication credentials invalid",
                          "--json")
    assert generic.exit_code == 0 and '"smtp.auth_failed"' in generic.stdout
    assert falcana_cli("mail", "explain", "kaputt").exit_code == 2


class TestWithoutDns:
    """A falcana server whose DNS does not answer (a closed port as its resolver)."""

    @pytest.fixture
    def falcana_config(self, tmp_path: Path, test_ca_bundle: Path) -> Config:
        return make_config(tmp_path / "data", ca_bundle=test_ca_bundle,
                           dns_servers=(f"127.0.0.1:{closed_port()}",))

    def test_a_preset_for_a_company_domain_says_dns_is_down_and_what_to_give(
            self, falcana_cli: Callable[..., Any]) -> None:
        """contoso-gmbh.de is Microsoft 365 only by its MX record: without DNS the preset
        cannot be found, and the message says why and how to go on."""
        assert falcana_cli("users", "add", "anna", "--email", "anna@contoso-gmbh.de"
                           ).exit_code == 0
        refused = falcana_cli("mail", "set", "anna", "--preset", lang="de")
        assert refused.exit_code == 2
        assert "contoso-gmbh.de ist nur an seinen Mailservern (MX-Eintrag)" in refused.stderr
        assert "--host smtp.office365.com --preset" in refused.stderr
        given = falcana_cli("mail", "set", "anna", "--host", "smtp.office365.com",
                            "--preset", "--password-stdin", input="App-Pw-1\n")
        assert given.exit_code == 0, given.output
        shown = json.loads(falcana_cli("mail", "show", "anna", "--json").stdout)
        assert (shown["host"], shown["port"], shown["security"]) == (
            "smtp.office365.com", 587, "tls")


def test_a_preset_for_an_unknown_domain_names_the_options_to_give(
        falcana_cli: Callable[..., Any]) -> None:
    setup_user(falcana_cli)
    refused = falcana_cli("mail", "set", "anna", "--preset")
    assert refused.exit_code == 2
    assert "not recognised from the address, the server or the domain's mail servers" in (
        refused.stderr)
    assert "DNS" not in refused.stderr  # the test kit's DNS answered: no MX record


def test_detect_without_the_discovery_plugin_says_which_plugin_to_enable(
        falcana_cli: Callable[..., Any], tmp_path: Path) -> None:
    setup_user(falcana_cli)
    assert falcana_cli("plugins", "disable", "discovery").exit_code == 0
    refused = falcana_cli("mail", "set", "anna", "--detect", lang="de")
    assert refused.exit_code == 2
    assert "falcana plugins enable discovery" in refused.stderr
    # its command is gone from a new process (this one keeps what it registered once)
    env = {**os.environ, "FALCANA_DATA_DIR": str(tmp_path / "data"), "FALCANA_LANG": "en"}
    gone = subprocess.run([sys.executable, "-m", "falcana_core", "mail", "detect", "x@y.de"],
                          env=env, capture_output=True, text=True, timeout=60)
    assert gone.returncode == 2 and "No such command 'detect'" in gone.stderr
