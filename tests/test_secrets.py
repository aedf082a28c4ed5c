"""Secrets at rest: encrypted, masked, key checked, rotated without loss."""

from __future__ import annotations

import os
import signal
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from falcana_core.config import Config
from falcana_core.host import Host
from falcana_core.secretbox import SecretKeyError, SecretValue
from falcana_core.testing import make_config

PLAIN = "Sehr-geheimes-Passwort-4711"


def start(data: Path, **overrides: object) -> Host:
    return Host.start(make_config(data, **overrides))


def test_sqlite_file_holds_no_plaintext_and_key_file_is_private(tmp_path: Path) -> None:
    data = tmp_path / "data"
    host = start(data)
    host.secrets.put("smtp_settings", "smtp_password", "mailbox:1", PLAIN)
    assert host.secrets.get("smtp_settings", "smtp_password", "mailbox:1") == SecretValue(PLAIN)
    host.close()
    for path in data.iterdir():  # the database, its WAL and shared-memory files
        if path.name.startswith("falcana.db"):
            assert PLAIN.encode() not in path.read_bytes(), path.name
    assert stat.S_IMODE((data / "secret.key").stat().st_mode) == 0o600


def test_secret_value_never_shows_in_repr_str_or_traceback() -> None:
    value = SecretValue(PLAIN)
    assert PLAIN not in repr(value) and PLAIN not in str(value) and PLAIN not in f"{value}"
    error = RuntimeError(f"failed with {value!r} and {value}")
    assert PLAIN not in str(error)
    import pickle

    with pytest.raises(TypeError):
        pickle.dumps(value)


def test_missing_key_on_a_database_with_secrets_is_a_clear_error(tmp_path: Path) -> None:
    data = tmp_path / "data"
    host = start(data)
    host.secrets.put("smtp_settings", "smtp_password", "mailbox:1", PLAIN)
    host.close()
    (data / "secret.key").rename(tmp_path / "backup.key")
    with pytest.raises(SecretKeyError, match="no key was found") as info:
        start(data)
    assert "no new key was made" in str(info.value)
    assert not (data / "secret.key").exists(), "a new key file must not appear"


def test_wrong_key_is_a_clear_error_and_makes_no_key_file(tmp_path: Path) -> None:
    data = tmp_path / "data"
    host = start(data)
    host.secrets.put("smtp_settings", "smtp_password", "mailbox:1", PLAIN)
    host.close()
    (data / "secret.key").unlink()
    other = Fernet.generate_key().decode()
    with pytest.raises(SecretKeyError, match="wrong or missing key"):
        start(data, secret_key=other)
    assert not (data / "secret.key").exists()


def test_malformed_key_is_a_clear_error_without_echoing_it(tmp_path: Path) -> None:
    with pytest.raises(SecretKeyError, match="malformed key") as info:
        start(tmp_path / "data", secret_key="not-a-fernet-key")
    assert "not-a-fernet-key" not in str(info.value)


def test_key_from_environment_makes_no_key_file(tmp_path: Path) -> None:
    key = Fernet.generate_key().decode()
    host = start(tmp_path / "data", secret_key=key)
    host.secrets.put("o", "p", "r", PLAIN)
    host.close()
    assert not (tmp_path / "data" / "secret.key").exists()
    again = start(tmp_path / "data", secret_key=key)
    assert again.secrets.get("o", "p", "r") == SecretValue(PLAIN)


def test_tampered_ciphertext_raises_and_returns_nothing(tmp_path: Path) -> None:
    from falcana_core.secretbox import SecretDecryptError

    host = start(tmp_path / "data")
    host.secrets.put("o", "p", "r", PLAIN)
    with sqlite3.connect(tmp_path / "data" / "falcana.db") as db:
        db.execute("UPDATE secrets SET ciphertext = ?", (b"gAAAAAgarbage",))
    with pytest.raises(SecretDecryptError) as info:
        host.secrets.get("o", "p", "r")
    assert "gAAAA" not in str(info.value)


def _fill(host: Host, count: int) -> None:
    fernet = host.secrets.ring.fernet(host.secrets.primary)
    from falcana_core.models import StoredSecret

    with host.transaction() as s:
        s.add_all(StoredSecret(owner="bulk", purpose="test", ref=str(i),
                               ciphertext=fernet.encrypt(f"secret-{i}".encode()),
                               key_id=host.secrets.primary) for i in range(count))


def test_rotation_over_10000_secrets_keeps_every_secret(tmp_path: Path) -> None:
    host = start(tmp_path / "data")
    _fill(host, 10_000)
    old = host.secrets.primary
    new, _raw = host.secrets.add_key()
    seen: list[tuple[int, int]] = []
    assert host.secrets.rotate(new, progress=lambda d, t: seen.append((d, t))) == 10_000
    assert seen[-1] == (10_000, 10_000)
    host.secrets.retire(old)
    host.close()
    again = start(tmp_path / "data")  # the key file now holds only the new key
    assert again.secrets.ring.ids() == [new]
    for i in range(0, 10_000, 997):
        assert again.secrets.get("bulk", "test", str(i)) == SecretValue(f"secret-{i}")
    status = {k["key_id"]: k for k in again.secrets.key_status()}
    assert status[new]["secrets"] == 10_000 and status[new]["primary"]
    assert status[old]["retired"]


def test_retire_refuses_a_key_still_in_use(tmp_path: Path) -> None:
    host = start(tmp_path / "data")
    host.secrets.put("o", "p", "r", PLAIN)
    old = host.secrets.primary
    host.secrets.add_key()
    with pytest.raises(SecretKeyError, match="primary"):
        host.secrets.retire(old)


def test_a_rotation_killed_half_way_leaves_every_secret_readable(tmp_path: Path) -> None:
    data = tmp_path / "data"
    host = start(data)
    _fill(host, 10_000)
    new, _raw = host.secrets.add_key()
    host.close()
    env = {**os.environ, "FALCANA_DATA_DIR": str(data), "FALCANA_LANG": "en"}
    proc = subprocess.Popen([sys.executable, "-m", "falcana_core", "keys", "rotate",
                             "--batch-size", "20"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    db = sqlite3.connect(data / "falcana.db", timeout=30)
    deadline = time.monotonic() + 60
    done = 0
    while time.monotonic() < deadline:
        done = db.execute("SELECT count(*) FROM secrets WHERE key_id = ?", (new,)).fetchone()[0]
        if done >= 500:
            break
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    db.close()
    assert 0 < done < 10_000, "the kill should land half-way"
    again = start(data)
    counts = {k["key_id"]: k["secrets"] for k in again.secrets.key_status()}
    assert 0 < counts[new] < 10_000  # a mixture of old and new key
    for i in range(10_000):
        assert again.secrets.get("bulk", "test", str(i)) == SecretValue(f"secret-{i}")
    assert again.secrets.rotate(new) == 10_000 - counts[new]  # resuming finishes the job


def test_config_masks_the_secret_key(tmp_path: Path) -> None:
    key = Fernet.generate_key().decode()
    config = Config.from_env({"FALCANA_DATA_DIR": str(tmp_path), "FALCANA_SECRET_KEY": key,
                              "FALCANA_DATABASE_URL": "postgresql://u:pw123@db/x"})
    shown = str(config.masked())
    assert key not in shown and "pw123" not in shown and repr(config).count(key) == 0


# -- rotation while processes run (docs/security.md) -----------------------------------

def keys_cli(data: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FALCANA_DATA_DIR": str(data), "FALCANA_LANG": "en"}
    return subprocess.run([sys.executable, "-m", "falcana_core", "keys", *args], env=env,
                          input=stdin, capture_output=True, text=True, timeout=120)


def test_add_rotate_retire_while_a_server_runs_then_everything_starts_again(
        tmp_path: Path) -> None:
    data = tmp_path / "data"
    running = start(data)  # the web server of this deployment, started before the rotation
    running.secrets.put("smtp_settings", "smtp_password", "mailbox:1", PLAIN)
    old = running.secrets.primary
    assert keys_cli(data, "add").returncode == 0
    assert keys_cli(data, "rotate").returncode == 0
    # right after the rotation the running server reads the re-encrypted secret ...
    assert running.secrets.get("smtp_settings", "smtp_password", "mailbox:1") == \
        SecretValue(PLAIN)
    assert keys_cli(data, "retire", old).returncode == 0
    # ... and what it saves after the retirement is under the new key, not the retired one
    running.secrets.put("smtp_settings", "smtp_password", "mailbox:2", "neu-1")
    status = {k["key_id"]: k for k in running.secrets.key_status()}
    assert status[old]["secrets"] == 0 and status[old]["retired"]
    running.close()
    again = start(data)  # every later start works
    assert again.secrets.get("smtp_settings", "smtp_password", "mailbox:2") == \
        SecretValue("neu-1")
    again.close()


def test_retire_refuses_while_a_secret_still_uses_the_key(tmp_path: Path) -> None:
    data = tmp_path / "data"
    host = start(data)
    host.secrets.put("o", "p", "r", PLAIN)
    old = host.secrets.primary
    host.close()
    assert keys_cli(data, "add").returncode == 0
    refused = keys_cli(data, "retire", old)  # not rotated yet: still primary and in use
    assert refused.returncode != 0 and old in refused.stderr


def test_empty_input_to_keys_add_stdin_is_an_error(tmp_path: Path) -> None:
    data = tmp_path / "data"
    start(data).close()
    before = (data / "secret.key").read_text()
    empty = keys_cli(data, "add", "--stdin", stdin="\n")
    assert empty.returncode == 2 and "no key on stdin" in empty.stderr.lower()
    assert (data / "secret.key").read_text() == before  # no key was made


def test_a_missing_key_is_repaired_with_keys_add_stdin_without_a_full_start(
        tmp_path: Path) -> None:
    data = tmp_path / "data"
    host = start(data)
    host.secrets.put("o", "p", "r", PLAIN)
    key_file = data / "secret.key"
    lost = [line for line in key_file.read_text().splitlines() if not line.startswith("#")]
    host.close()
    key_file.write_text("# the key went missing\n")
    with pytest.raises(SecretKeyError):
        start(data)
    listed = keys_cli(data, "list")  # the key commands still work, and say what is missing
    assert listed.returncode == 0 and "NOT IN THIS RING" in listed.stdout
    repaired = keys_cli(data, "add", "--stdin", stdin=lost[0] + "\n")
    assert repaired.returncode == 0, repaired.stderr
    back = start(data)
    assert back.secrets.get("o", "p", "r") == SecretValue(PLAIN)
    back.close()
