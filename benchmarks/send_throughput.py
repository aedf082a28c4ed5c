"""Send throughput: the smtp transport against a plain smtplib loop, same sink, same run.

Sends N messages through ONE connection each way, to a local aiosmtpd sink running in
its own process, alternating the two several times; prints messages per second (median
of the rounds) and the ratio transport / smtplib (aim: at least 0.9).

    uv run python benchmarks/send_throughput.py [--messages 1000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import smtplib
import statistics
import subprocess
import sys
import tempfile
import time
from email.message import EmailMessage
from pathlib import Path

HERE = Path(__file__).parent


def messages(n: int) -> list[EmailMessage]:
    out = []
    for i in range(n):
        msg = EmailMessage()
        msg["From"] = "Jürgen Müßig <bench@example.com>"
        msg["To"] = f"kunde{i}@example.org"
        msg["Subject"] = f"Angebot Nr. {i}"
        msg["Message-ID"] = f"<bench-{i}@example.com>"
        msg["Date"] = "Fri, 27 Nov 2026 12:00:00 +0000"
        msg.set_content("Guten Tag,\n\nanbei unser Angebot.\n\nMit freundlichen Grüßen\n" * 5)
        out.append(msg)
    return out


def plain_loop(port: int, batch: list[EmailMessage]) -> float:
    started = time.perf_counter()
    smtp = smtplib.SMTP("127.0.0.1", port, timeout=30)
    smtp.ehlo()
    smtp.login("bench@example.com", "bench-pw")
    for msg in batch:
        smtp.send_message(msg)
    smtp.quit()
    return len(batch) / (time.perf_counter() - started)


def transport_loop(host: object, mailbox: object, batch: list[EmailMessage]) -> float:
    started = time.perf_counter()
    connection = host.transport(mailbox).open()  # type: ignore[attr-defined]
    for msg in batch:
        connection.send(msg)
    connection.close()
    return len(batch) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    sink = subprocess.Popen([sys.executable, str(HERE / "_sink.py")], stdout=subprocess.PIPE,
                            text=True)
    assert sink.stdout is not None
    port = int(sink.stdout.readline())
    try:
        from falcana_core.host import Host
        from falcana_core.testing import make_config

        with tempfile.TemporaryDirectory() as data:
            host = Host.start(make_config(Path(data), dns_servers=("127.0.0.1:9",)))
            user = host.users.add("bench", first_name="Jürgen", last_name="Müßig",
                                  email="bench@example.com")
            box = host.mailboxes.personal(user)
            saved = host.save_section(box, "smtp", {
                "email": "bench@example.com", "username": "bench@example.com",
                "password": "bench-pw", "host": "127.0.0.1", "port": port,
                "security": "normal"}, actor="bench")
            assert saved.saved
            transport_loop(host, box, messages(50))  # warm-up
            plain_loop(port, messages(50))
            plain, ours = [], []
            for _ in range(args.rounds):
                plain.append(plain_loop(port, messages(args.messages)))
                ours.append(transport_loop(host, box, messages(args.messages)))
            host.close()
    finally:
        sink.kill()
    p, t = statistics.median(plain), statistics.median(ours)
    print(f"{args.messages} messages over one connection, median of {args.rounds} rounds")
    print(f"plain smtplib loop   {p:8.0f} msg/s   (rounds: {', '.join(f'{x:.0f}' for x in plain)})")
    print(f"smtp transport       {t:8.0f} msg/s   (rounds: {', '.join(f'{x:.0f}' for x in ours)})")
    print(f"ratio transport / smtplib: {t / p:.2f}")


if __name__ == "__main__":
    main()
