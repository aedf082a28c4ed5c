"""docs/writing-a-provider-plugin.md works as written: its files, built exactly as printed,
make a plugin that installs with the documented commands, passes its own tests and shows
in ``falcana plugins list`` with its version and dependency."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).parent.parent
GUIDE = ROOT / "docs" / "writing-a-provider-plugin.md"
BLOCK = re.compile(r'^```(\w+) title="([^"]+)"\n(.*?)^```$', re.M | re.S)


def blocks() -> dict[str, str]:
    """title -> content of every titled code block."""
    return {m.group(2): m.group(3) for m in BLOCK.finditer(GUIDE.read_text(encoding="utf-8"))}


def test_the_guides_plugin_builds_installs_and_passes(tmp_path: Path) -> None:
    found = blocks()
    commands = found.pop("commands")
    assert {"pyproject.toml", "falcana_posteo/plugin.py", "tests/test_posteo.py"} <= set(found)
    plugin = tmp_path / "falcana-posteo"
    for name, content in found.items():
        (plugin / name).parent.mkdir(parents=True, exist_ok=True)
        (plugin / name).write_text(content, encoding="utf-8")
    (tmp_path / "falcana").symlink_to(ROOT)

    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("VIRTUAL_ENV", "UV_", "PYTHONPATH", "FALCANA_"))}
    env.update(FALCANA_DATA_DIR=str(tmp_path / "data"), FALCANA_LANG="en",
               FALCANA_DNS_SERVERS="127.0.0.1:9", UV_PYTHON=sys.executable,
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}")
    result = subprocess.run(["bash", "-euo", "pipefail", "-c", commands], cwd=tmp_path,
                            env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    assert re.search(r"\b4 passed\b", result.stdout), result.stdout
    row = next(line for line in result.stdout.splitlines() if line.lstrip("│ ").startswith(
        "posteo"))
    assert "enabled" in row and "0.1.0" in row, row
    # plugins show, and mail explain answering with the guide's rule, as printed
    assert "Posteo: detection, presets, validation and help." in result.stdout
    assert "Needs: smtp_settings" in result.stdout
    printed = re.search(r"^```\n(posteo\.sender_not_owned\n.*?)^```$",
                        GUIDE.read_text(encoding="utf-8"), re.M | re.S)
    assert printed is not None
    assert printed.group(1) in result.stdout, result.stdout

    listed = subprocess.run([plugin / ".venv/bin/falcana", "plugins", "list", "--json"],
                            env=env, capture_output=True, text=True, timeout=120, check=True)
    posteo = next(p for p in json.loads(listed.stdout) if p["name"] == "posteo")
    assert posteo["depends"] == ["smtp_settings"]  # the manifest is read
    wheel = next((plugin / "dist").glob("falcana_posteo-0.1.0-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()  # a deployment gets manifest and catalogue
    assert {"falcana_posteo/falcana_plugin.toml",
            "falcana_posteo/locale/de/LC_MESSAGES/posteo.po"} <= set(names)
    assert posteo["distribution"] == "falcana-posteo"
    assert {"detect_provider", "provider_validate", "provider_help"} <= set(posteo["hooks"])
