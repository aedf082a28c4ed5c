"""The third-party example plugin, installed the way a third party's would be.

It gets a virtual environment of its own (not the workspace): installing it makes it
appear in ``falcana plugins list`` and in the section, its own tests pass with the test
kit, and uninstalling it leaves the stored settings intact and the host working.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent


def uv() -> str:
    found = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    assert found, "uv is needed to build the example's own environment"
    return found


def run(args: list[str | Path], env: dict[str, str], **kwargs: object) -> str:
    result = subprocess.run([str(a) for a in args], env=env, capture_output=True, text=True,
                            timeout=600, **kwargs)  # type: ignore[call-overload]
    assert result.returncode == 0, f"{args}\n{result.stdout}\n{result.stderr}"
    out: str = result.stdout
    return out


def test_example_plugin_in_its_own_environment(tmp_path: Path) -> None:
    example = tmp_path / "providers_de"
    shutil.copytree(ROOT / "examples" / "providers_de", example)
    venv = tmp_path / "venv"
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("VIRTUAL_ENV", "UV_", "PYTHONPATH", "FALCANA_"))}
    env.update(FALCANA_DATA_DIR=str(tmp_path / "data"), FALCANA_LANG="en",
               FALCANA_DNS_SERVERS="127.0.0.1:9")
    run([uv(), "venv", "--quiet", "--python", sys.executable, venv], env)
    python = venv / "bin" / "python"
    falcana = [python, "-m", "falcana_core"]
    run([uv(), "pip", "install", "--quiet", "--python", python, f"{ROOT}[testing]",
         ROOT / "plugins" / "smtp_settings", example], env)

    # its own tests, with the test kit
    run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider", example / "tests"], env,
        cwd=example)

    listed = {p["name"]: p for p in json.loads(run([*falcana, "plugins", "list", "--json"],
                                                   env))}
    assert listed["providers_de"]["status"] == "enabled"
    assert listed["providers_de"]["distribution"] == "falcana-providers-de"
    assert "detect_provider" in listed["providers_de"]["hooks"]
    assert "providers_m365" not in listed  # not installed in this environment

    run([*falcana, "users", "add", "max", "--first-name", "Max", "--last-name", "Weber",
         "--email", "max@web.de"], env)
    run([*falcana, "mail", "set", "max", "--preset", "--username", "max", "--password-stdin"],
        env, input="web-pw\n")
    shown = json.loads(run([*falcana, "mail", "show", "max", "--json"], env))
    assert (shown["host"], shown["port"], shown["provider"]) == ("smtp.web.de", 587, "webde")

    run([uv(), "pip", "uninstall", "--quiet", "--python", python, "falcana-providers-de"], env)
    listed = {p["name"]: p for p in json.loads(run([*falcana, "plugins", "list", "--json"],
                                                   env))}
    assert "providers_de" not in listed
    assert all(p["status"] == "enabled" for p in listed.values())
    after = json.loads(run([*falcana, "mail", "show", "max", "--json"], env))
    assert after["provider"] is None  # no longer recognised, nothing else changed
    assert {k: after[k] for k in ("host", "port", "security", "username", "password_set")} == {
        "host": "smtp.web.de", "port": 587, "security": "tls", "username": "max",
        "password_set": True}
