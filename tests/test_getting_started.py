"""docs/getting-started.md works as printed: its titled command blocks run, in order, in a
shell of their own against an empty data directory, on a machine without DNS, and do what
the text around them says."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

from falcana_core.testing.net import closed_port, free_port

ROOT = Path(__file__).parent.parent
DOC = ROOT / "docs" / "getting-started.md"
BLOCK = re.compile(r'^```sh title="([^"]+)"\n(.*?)^```$', re.M | re.S)


def blocks() -> dict[str, str]:
    return {m.group(1): m.group(2) for m in BLOCK.finditer(DOC.read_text(encoding="utf-8"))}


def run(script: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The block in a session of its own: what it started in the background goes with it,
    also when a command in it fails."""
    proc = subprocess.Popen(["bash", "-euo", "pipefail", "-c", script], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=300)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def test_the_getting_started_commands_work_as_printed(tmp_path: Path) -> None:
    found = blocks()
    assert list(found) == ["configure", "local server"]
    (tmp_path / "password.txt").write_text("App-Passwort-1\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("FALCANA_")}
    # `falcana` of the activated environment, as the doc says; no DNS on this machine
    env.update(PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
               FALCANA_DATA_DIR=str(tmp_path / "data"), FALCANA_LANG="en",
               FALCANA_DNS_SERVERS=f"127.0.0.1:{closed_port()}")

    configure = run(found["configure"], tmp_path, env)
    assert configure.returncode == 0, f"{configure.stdout}\n{configure.stderr}"
    out = configure.stdout
    shown = json.loads(out[out.index("{"):out.index("\n}\n") + 2])
    assert (shown["email"], shown["host"], shown["port"], shown["security"],
            shown["password_set"]) == ("anna@contoso-gmbh.de", "smtp.office365.com", 587,
                                       "tls", True)
    assert "vertrieb@contoso-gmbh.de" in out  # mailboxes list
    assert re.search(r"^sent_copy\s+Copy in Sent", out, re.M)  # settings --mailbox anna
    assert "m365." in out and "Cause:" in out  # mail explain, Microsoft's own rule
    assert "Error" not in configure.stderr, configure.stderr

    # the port as printed may be taken on a shared machine: the one number that changes
    local = found["local server"].replace("2525", str(free_port()))
    served = run(local, tmp_path, env)
    assert served.returncode == 0, f"{served.stdout}\n{served.stderr}"
    assert "Test passed" in served.stdout
    received = (tmp_path / "received.txt").read_text(encoding="utf-8")
    assert "Subject: falcana test e-mail" in received
