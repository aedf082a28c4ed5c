#!/usr/bin/env python3
"""The project's two quick-start commands, needing only Python 3.11+ and pip:

    python3 tasks.py demo    start the demo (SQLite, seeded users, a local SMTP sink)
    python3 tasks.py test    run every test, plus ruff and mypy

Arguments after ``test`` go to pytest (``python3 tasks.py test -k outbox -x``);
``--quick`` leaves ruff and mypy out (``python3 tasks.py test --quick -k outbox``).

Both install uv when it is missing and set up the environment from the lock file.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent


def uv() -> str:
    found = shutil.which("uv")
    if found:
        return found
    print("uv is not installed: installing it with pip ...", flush=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--user", "uv"],
                   check=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "uv"], check=False)
    for candidate in (shutil.which("uv"), Path.home() / ".local" / "bin" / "uv"):
        if candidate and Path(candidate).exists():
            return str(candidate)
    return f"{sys.executable} -m uv"


def run(*args: str, check: bool = True) -> int:
    command = [*uv().split(), *args]
    return subprocess.run(command, cwd=ROOT, check=check).returncode  # noqa: S603


def sync() -> None:
    # compiled bytecode keeps start-up fast where PYTHONDONTWRITEBYTECODE is set
    run("sync", "--locked", "--all-packages", "--compile-bytecode", "--quiet")


def demo(args: list[str]) -> int:
    sync()
    return run("run", "--no-sync", "falcana", "demo", *args, check=False)


def test(args: list[str]) -> int:
    sync()
    quick = "--quick" in args
    args = [a for a in args if a != "--quick"]
    steps = [] if quick else [
        ("ruff", ["run", "--no-sync", "ruff", "check", "."]),
        ("mypy", ["run", "--no-sync", "mypy"]),
    ]
    steps.append(("pytest", ["run", "--no-sync", "pytest", *args]))
    for name, command in steps:
        print(f"--- {name}", flush=True)
        code = run(*command, check=False)
        if code != 0:
            print(f"--- {name} failed (exit {code})", flush=True)
            return code
    return 0


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] in {"-h", "--help", "help"}:
        print(__doc__)
        return 0
    if len(sys.argv) < 2 or sys.argv[1] not in {"demo", "test"}:
        print(__doc__)
        return 2
    os.environ.setdefault("UV_PYTHON", sys.executable)
    command, rest = sys.argv[1], sys.argv[2:]
    return demo(rest) if command == "demo" else test(rest)


if __name__ == "__main__":
    sys.exit(main())
