"""A local SMTP sink in its own process for benchmarks: prints its port, runs until killed.

    python benchmarks/_sink.py [--delay 0.03]
    with sink(0.03) as port: ...       # from another benchmark (benchmarks/ on sys.path)

Every login with the password ``bench-pw`` is accepted (one per benchmark mailbox);
``--delay`` holds back each reply, as a provider's server across a real network does.
"""

from __future__ import annotations

import argparse
import logging
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from falcana_smtp_settings.testing.smtpd import SmtpTestServer

PASSWORD = "bench-pw"


class _AnyLogin(dict):  # type: ignore[type-arg]
    def get(self, _login: object, default: object = None) -> str:
        return PASSWORD


class _Discard(list):  # type: ignore[type-arg]
    """Keeps no message: a benchmark measures the client, not the sink's memory."""

    def append(self, _item: object) -> None:
        return None


@contextmanager
def sink(delay: float = 0.0) -> Iterator[int]:
    """This sink in its own process (its work does not share the caller's interpreter
    lock); yields its port."""
    proc = subprocess.Popen([sys.executable, str(Path(__file__)), "--delay", str(delay)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    try:
        yield int(proc.stdout.readline())
    finally:
        proc.kill()
        proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--delay", type=float, default=0.0)
    args = parser.parse_args()
    logging.getLogger("mail.log").setLevel(logging.ERROR)
    server = SmtpTestServer("normal", reply_delay=args.delay)
    server.users = _AnyLogin()
    server.start()
    server.messages = _Discard()
    server.credentials_heard = _Discard()
    server.logins = _Discard()
    print(server.port, flush=True)
    try:
        while True:
            time.sleep(3600)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
