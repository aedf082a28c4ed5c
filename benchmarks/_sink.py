"""A local SMTP sink in its own process for benchmarks: prints its port, runs until killed."""

from __future__ import annotations

import logging
import sys
import time

from falcana_core.testing.smtpd import SmtpTestServer


class CountingServer(SmtpTestServer):
    """Keeps no message: a benchmark measures the client, not the sink's memory."""


def main() -> None:
    users = {"bench@example.com": "bench-pw"}
    logging.getLogger("mail.log").setLevel(logging.ERROR)
    server = CountingServer("normal", users=users).start()
    server.messages = _Discard()  # type: ignore[assignment]
    print(server.port, flush=True)
    try:
        while True:
            time.sleep(3600)
    finally:
        server.stop()


class _Discard(list):  # type: ignore[type-arg]
    def append(self, _item: object) -> None:
        return None


if __name__ == "__main__":
    sys.exit(main())
