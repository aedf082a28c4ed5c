"""Start-up time: importing the core and loading the three first-party plugins, the
command line's --help and one command on an up-to-date database beside the import of
SQLAlchemy's ORM alone.

Printed as absolute seconds and as a ratio to ``python -c pass`` measured in the same run
(the machines are shared and noisy: the ratio is the figure to compare across runs).
Each figure is the median of N fresh interpreter starts.

    uv run python benchmarks/startup.py [--runs 15]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time

LOAD = ("from falcana_core.plugins import load_plugins; "
        "p = load_plugins(strict=True); "
        "assert {'smtp_settings', 'providers_m365', 'providers_gmail'} <= "
        "{i.name for i in p.enabled()}")
HOST = ("import os; from falcana_core.host import Host; "
        "h = Host.start(); assert h.sections()")
CLI_HELP = "from falcana_core.cli import main\ntry: main(['--help'])\nexcept SystemExit: pass"
CLI_COMMAND = ("from falcana_core.cli import main\ntry: main(['users', 'list', '--json'])\n"
               "except SystemExit: pass")
SQLALCHEMY = "import sqlalchemy.orm"
HEAVY = ("import sys; from falcana_core.plugins import load_plugins; load_plugins(); "
         "bad = [m for m in ('flask', 'sqlalchemy', 'aiosmtpd', 'smtplib', 'jinja2', "
         "'cryptography', 'dns') if m in sys.modules]; print(','.join(bad))")


def timed(code: str, runs: int, env: dict[str, str] | None = None) -> float:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, env=env,
                       stdout=subprocess.DEVNULL)
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    import os

    with tempfile.TemporaryDirectory() as data:
        env = {**os.environ, "FALCANA_DATA_DIR": data}
        subprocess.run([sys.executable, "-c", HOST], check=True, env=env)  # migrate once
        baseline = timed("pass", args.runs)
        load = timed(LOAD, args.runs)
        host = timed(HOST, args.runs, env)
        orm = timed(SQLALCHEMY, args.runs)
        help_ = timed(CLI_HELP, args.runs, env)
        command = timed(CLI_COMMAND, args.runs, {**env, "PYTHONWARNINGS": "ignore"})
    heavy = subprocess.run([sys.executable, "-c", HEAVY], capture_output=True, text=True,
                           check=True).stdout.strip()
    print(f"python -c pass                      {baseline * 1000:8.1f} ms   1.00x")
    print(f"import core + load 3 plugins        {load * 1000:8.1f} ms   {load / baseline:5.2f}x"
          f"   (plugin loading alone: {(load - baseline) * 1000:.1f} ms)")
    print(f"Host.start() on an existing SQLite  {host * 1000:8.1f} ms   {host / baseline:5.2f}x")
    print(f"heavy modules imported by loading   {heavy or 'none'}")
    print(f"python -c 'import sqlalchemy.orm'   {orm * 1000:8.1f} ms   {orm / baseline:5.2f}x")
    print(f"falcana --help                      {help_ * 1000:8.1f} ms   {help_ / baseline:5.2f}x")
    print(f"falcana users list (up-to-date db)  {command * 1000:8.1f} ms   "
          f"{command / baseline:5.2f}x   ({(command - orm) * 1000:+.1f} ms over the ORM "
          "import alone)")


if __name__ == "__main__":
    main()
