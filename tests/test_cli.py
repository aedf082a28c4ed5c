"""The falcana command line: scriptable, --json, clear errors, secrets only from stdin."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet


def test_plugins_list_shows_the_first_party_plugins(falcana_cli: Callable[..., Any]) -> None:
    result = falcana_cli("plugins", "list", "--json")
    assert result.exit_code == 0, result.output
    rows = {r["name"]: r for r in json.loads(result.stdout)}
    for name in ("smtp_settings", "oauth", "providers_m365", "providers_gmail"):
        assert rows[name]["enabled"] and rows[name]["version"] == "0.1.0"
        assert rows[name]["hooks"]
    assert rows["providers_m365"]["depends"] == ["smtp_settings", "oauth"]
    assert rows["oauth"]["distribution"] == "falcana-oauth"
    only = json.loads(falcana_cli("plugins", "list", "--json", "--hook",
                                  "register_transports").stdout)
    assert [r["name"] for r in only] == ["providers_gmail", "providers_m365", "smtp_settings"]
    table = falcana_cli("plugins", "list")
    assert "providers_gmail" in table.stdout and "enabled" in table.stdout


def test_plugins_disable_persists_and_essentials_refuse(
        falcana_cli: Callable[..., Any]) -> None:
    assert falcana_cli("plugins", "disable", "providers_gmail").exit_code == 0
    rows = {r["name"]: r for r in json.loads(falcana_cli("plugins", "list", "--json").stdout)}
    assert rows["providers_gmail"]["status"] == "disabled"
    refused = falcana_cli("plugins", "disable", "smtp_settings")
    assert refused.exit_code != 0 and "essential" in refused.stderr
    unknown = falcana_cli("plugins", "enable", "nope")
    assert unknown.exit_code != 0 and "nope" in unknown.stderr


def test_plugins_show_prints_a_plugins_sections_help_buttons_and_steps(
        falcana_cli: Callable[..., Any]) -> None:
    """A plugin's help without a browser: what an admin sees in its section."""
    shown = falcana_cli("plugins", "show", "sent_copy", lang="de")
    assert shown.exit_code == 0, shown.output
    out = shown.stdout
    assert "Benötigt: smtp_settings" in out and "Status: aktiviert" in out
    assert "Kopie in Gesendet (IMAP) [sent_copy]" in out
    assert "IMAP-Server (host)" in out
    assert "Der Posteingangsserver (IMAP) desselben Postfachs." in out
    assert "Ablegen (APPEND) (append)" in out  # a step, by its name for people
    smtp = json.loads(falcana_cli("plugins", "show", "smtp_settings", "--json").stdout)
    assert "sent_copy" in smtp["needed_by"]
    assert {"id": "smtp.test", "label": "Send test e-mail", "section": "smtp"} in smtp["actions"]
    fields = [f["id"] for f in smtp["sections"][0]["fields"]]
    assert fields[:2] == ["email", "display_name"]
    assert falcana_cli("plugins", "disable", "providers_gmail").exit_code == 0
    off = json.loads(falcana_cli("plugins", "show", "providers_gmail", "--json").stdout)
    assert off["status"] == "disabled" and off["sections"] == []
    unknown = falcana_cli("plugins", "show", "nope", lang="de")
    assert unknown.exit_code == 2 and "Kein Plugin namens nope" in unknown.stderr


def test_users_add_list_set_role(falcana_cli: Callable[..., Any]) -> None:
    added = falcana_cli("users", "add", "anna", "--first-name", "Anna", "--last-name",
                        "Schäfer", "--email", "anna@example.com", "--admin",
                        "--password-stdin", input="Login-Pw-1\n")
    assert added.exit_code == 0, added.output
    users = json.loads(falcana_cli("users", "list", "--json").stdout)
    assert users == [{"id": 1, "login": "anna", "first_name": "Anna", "last_name": "Schäfer",
                      "email": "anna@example.com", "role": "admin", "active": True,
                      "external_id": None}]
    assert falcana_cli("users", "set-role", "anna", "user").exit_code == 0
    assert json.loads(falcana_cli("users", "list", "--json").stdout)[0]["role"] == "user"
    # the personal mailbox came with the user
    shown = json.loads(falcana_cli("mail", "show", "anna", "--json").stdout)
    assert shown["email"] == "anna@example.com" and shown["password_set"] is False


def test_bad_input_exits_non_zero_with_a_clear_message(falcana_cli: Callable[..., Any]) -> None:
    assert falcana_cli("users", "add", "anna", "--email", "anna@example.com").exit_code == 0
    dup = falcana_cli("users", "add", "anna", "--email", "other@example.com")
    assert dup.exit_code == 2 and "login" in dup.stderr and "anna" in dup.stderr
    bad = falcana_cli("users", "add", "bert", "--email", "bert-at-example")
    assert bad.exit_code == 2 and "E-mail:" in bad.stderr  # the field by its label
    de = falcana_cli("users", "add", "carl", "--email", "nope", lang="de")
    assert "keine gültige e-mail-Adresse" in de.stderr
    assert json.loads(falcana_cli("users", "list", "--json").stdout)[0]["login"] == "anna"
    assert len(json.loads(falcana_cli("users", "list", "--json").stdout)) == 1


def test_config_prints_effective_values_with_secrets_masked(tmp_path: Path) -> None:
    key = Fernet.generate_key().decode()
    env = {**os.environ, "FALCANA_DATA_DIR": str(tmp_path), "FALCANA_SECRET_KEY": key,
           "FALCANA_LANG": "en"}
    out = subprocess.run([sys.executable, "-m", "falcana_core", "config", "--json"], env=env,
                         capture_output=True, text=True, check=True).stdout
    values = json.loads(out)
    assert values["FALCANA_SECRET_KEY"] == "********" and key not in out
    assert values["FALCANA_DATA_DIR"] == str(tmp_path)


def test_keys_cli_add_rotate_retire(falcana_cli: Callable[..., Any],
                                    falcana_config: Any) -> None:
    falcana_cli("users", "add", "anna", "--email", "anna@example.com")
    falcana_cli("mail", "set", "anna", "--host", "mail.example.com", "--password-stdin",
                input="pw-123\n")
    before = json.loads(falcana_cli("keys", "list", "--json").stdout)
    assert len(before) == 1 and before[0]["primary"] and before[0]["secrets"] == 1
    added = falcana_cli("keys", "add")
    assert added.exit_code == 0 and "Key " in added.stderr
    assert len(falcana_config.key_file.read_text().split()) > 2  # comment + two keys
    rotated = falcana_cli("keys", "rotate")
    assert rotated.exit_code == 0 and "1 secret(s) re-encrypted" in rotated.stdout
    retired = falcana_cli("keys", "retire", before[0]["key_id"])
    assert retired.exit_code == 0, retired.output
    after = json.loads(falcana_cli("keys", "list", "--json").stdout)
    assert [k["secrets"] for k in after if k["primary"]] == [1]
    shown = json.loads(falcana_cli("mail", "show", "anna", "--json").stdout)
    assert shown["password_set"]


def test_the_console_script_runs(tmp_path: Path) -> None:
    env = {**os.environ, "FALCANA_DATA_DIR": str(tmp_path)}
    exe = Path(sys.executable).parent / "falcana"
    out = subprocess.run([str(exe), "--version"], env=env, capture_output=True, text=True,
                         check=True)
    assert "falcana" in out.stdout


def test_db_upgrade_runs_every_plugins_migrations(falcana_cli: Callable[..., Any]) -> None:
    result = falcana_cli("db", "upgrade")
    assert result.exit_code == 0
    assert result.stdout.strip() == "Upgraded: core, smtp_settings, oauth, sent_copy, bounces"


def test_an_unreachable_database_is_a_clear_error(tmp_path: Path) -> None:
    env = {**os.environ, "FALCANA_DATA_DIR": str(tmp_path),
           "FALCANA_DATABASE_URL": "postgresql://falcana:geheim@127.0.0.1:9/nothing",
           "FALCANA_LANG": "en"}
    out = subprocess.run([sys.executable, "-m", "falcana_core", "users", "list"], env=env,
                         capture_output=True, text=True)
    assert out.returncode == 1
    assert "Cannot open the database" in out.stderr and "geheim" not in out.stderr
    assert "Traceback" not in out.stderr


def test_help_has_no_side_effects(tmp_path: Path) -> None:
    """``falcana --help`` (and any command's) creates no database in the current folder."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FALCANA_")}
    for args in (["--help"], ["mail", "--help"], ["plugins", "list"]):
        result = subprocess.run([sys.executable, "-m", "falcana_core", *args], cwd=tmp_path,
                                env=env, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        assert list(tmp_path.iterdir()) == [], args


def _command_paths(group: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    import click

    paths = [prefix]
    if isinstance(group, click.Group):
        for name, command in sorted(group.commands.items()):
            paths.extend(_command_paths(command, (*prefix, name)))
    return paths


def test_help_of_every_command_starts_without_the_database_layer_or_the_web(
        tmp_path: Path) -> None:
    """``falcana --help`` and every subcommand's ``--help`` import neither SQLAlchemy nor
    Flask, also where the database exists (its plugin state is read without them)."""
    from falcana_core.cli import build_cli
    from falcana_core.host import Host
    from falcana_core.plugin_state import load_enabled_plugins
    from falcana_core.testing import make_config

    config = make_config(tmp_path / "data")
    Host.start(config).close()  # an up-to-date database, as on a running installation
    paths = _command_paths(build_cli(config, load_enabled_plugins(config)))
    assert ("mail", "test") in paths and ("outbox", "list") in paths and len(paths) > 20
    script = ("import sys\nfrom falcana_core.cli import main\n"
              "try:\n    main(sys.argv[1:] + ['--help'])\nexcept SystemExit:\n    pass\n"
              "print(sorted(m for m in ('sqlalchemy', 'flask') if m in sys.modules))")
    env = {**os.environ, "FALCANA_DATA_DIR": str(tmp_path / "data"), "FALCANA_LANG": "en",
           "FALCANA_ALLOW_NETWORKS": "loopback"}
    heavy = {}
    for path in paths:
        out = subprocess.run([sys.executable, "-c", script, *path], env=env,
                             capture_output=True, text=True, timeout=60)
        assert "Usage:" in out.stdout, (path, out.stderr)
        if out.stdout.strip().splitlines()[-1] != "[]":
            heavy[" ".join(path)] = out.stdout.strip().splitlines()[-1]
    assert heavy == {}


ENGLISH = re.compile(r"\b(the|is|not|no|added|cannot|message|found|named|error|warning|"
                     r"would|deleted|queued|cancelled|step|failed)\b", re.IGNORECASE)


def test_the_cli_speaks_german_on_its_error_paths(falcana_cli: Callable[..., Any],
                                                 falcana_host: Any) -> None:
    """FALCANA_LANG=de: what the command line says is German, fields named by their
    labels and steps by their names, as in the web UI."""
    falcana_host.users.add("juergen", first_name="Jürgen", last_name="Müßig",
                           email="juergen@example.com")
    runs = [
        (("users", "add", "anna", "--email", "kein-at"), "Fehler: e-mail:"),
        (("users", "add", "jürgen neu"), "Login:"),
        (("plugins", "disable", "gibt_es_nicht"), "Kein Plugin"),
        (("plugins", "disable", "smtp_settings"), "unverzichtbar"),
        (("outbox", "show", "999"), "Keine Nachricht 999"),
        (("outbox", "retry", "999"), "Nachricht 999"),
        (("outbox", "cancel", "999"), "Nachricht 999"),
        (("outbox", "list", "--mailbox", "niemand@example.com"), "Kein Postfach"),
        (("mail", "set", "juergen", "--port", "99999"), "e-mail Port:"),
        (("mail", "test", "juergen", "--port", "99999"), "e-mail Port:"),
        (("mail", "test", "juergen"), "Postausgangsserver (SMTP): Geben Sie den"),
        (("mail", "test", "juergen", "--host", "kein-server.example"),
         "Test fehlgeschlagen bei Schritt Namensauflösung"),
        (("users", "add", "maria", "--email", "maria@example.com"), "User maria angelegt"),
        # click's own words: a mistyped option or command, a missing or wrong value
        (("mail", "set", "--hots", "x", "juergen"), "Die Option '--hots' gibt es nicht"),
        (("mial",), "Den Befehl 'mial' gibt es nicht. Meinten Sie 'mail'?"),
        (("users", "add"), "Argument fehlt 'LOGIN'"),
        (("outbox", "show", "abc"), "Ungültiger Wert für 'OUTBOX_ID': 'abc' ist keine"),
        (("users", "set-role"), "Aufruf: "),
    ]
    for args, expected in runs:
        out = falcana_cli(*args, lang="de")
        text = out.output  # stdout and stderr
        assert expected in text, (args, text)
        # what the operating system said stays in its own words, marked as such
        said = re.sub(r"\(Systemmeldung: [^)]*\)", "", text.replace("Test-e-mail", ""))
        words = ENGLISH.findall(said)
        assert not words, (args, words, text)


def test_shared_mailboxes_and_every_settings_section_from_the_command_line(
        falcana_cli: Callable[..., Any], falcana_host: Any) -> None:
    """A shared mailbox is made, and every section (an OAuth2 client, the copy in Sent) is
    changed from the command line, with the web UI's validation."""
    added = falcana_cli("mailboxes", "add", "vertrieb@firma.example", "--display-name",
                        "Vertrieb")
    assert added.exit_code == 0 and "vertrieb@firma.example" in added.stdout
    assert "vertrieb@firma.example" in falcana_cli("mailboxes", "list").stdout
    assert falcana_cli("mailboxes", "add", "vertrieb@firma.example").exit_code == 2
    listed = falcana_cli("settings").stdout
    assert "oauth_microsoft" in listed and "general" in listed
    saved = falcana_cli("settings", "oauth_microsoft", "client_id=app-1234")
    assert saved.exit_code == 0, saved.output
    assert "app-1234" in falcana_cli("settings", "oauth_microsoft").stdout
    secret = falcana_cli("settings", "oauth_microsoft", "--secret-stdin", "client_secret",
                         input="geheim-123\n")
    assert secret.exit_code == 0 and "geheim-123" not in secret.output
    shown = falcana_cli("settings", "oauth_microsoft").stdout
    assert "geheim-123" not in shown and "Client secret: set" in shown
    bad = falcana_cli("settings", "oauth_microsoft", "graph_url=http://graph.example")
    assert bad.exit_code == 2 and "https://" in bad.output
    copy = falcana_cli("settings", "sent_copy", "--mailbox", "vertrieb@firma.example",
                       "mode=on", "host=imap.firma.example", "port=993", "security=ssl")
    assert copy.exit_code == 0, copy.output
    box = falcana_host.mailboxes.shared_by_address("vertrieb@firma.example")
    assert falcana_host.section_values(box, "sent_copy")["host"] == "imap.firma.example"
    assert falcana_cli("settings", "sent_copy", "nonsense=1", "--mailbox",
                       "vertrieb@firma.example").exit_code == 2
