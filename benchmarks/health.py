"""Mailbox health: what one verify costs, and how long one worker needs for many mailboxes.

1. Verify cost per mailbox against an instant sink (a local aiosmtpd that answers at
   once): ``host.health.verify(mailbox)`` (the mailbox's transport signs in up to AUTH,
   QUIT, the result recorded) against smtplib doing connect, EHLO, AUTH and QUIT on the
   same sink (the least any verify can do). Interleaved rounds, medians.
2. One worker verifying N mailboxes, every reply of the sink held back ``--delay`` (30 ms:
   a provider across a real network), at ``--connections`` connections, against an
   asyncio client (aiosmtplib) doing the same sign-ins with as many connections at once.
   The time per mailbox at each N shows how it grows (flat: linear in mailboxes).
3. The health view's list of every mailbox, against one query of the same rows.

    uv run python benchmarks/health.py [--sizes 500,2000,10000] [--connections 20]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import logging
import smtplib
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from _sink import sink  # benchmarks/ is on the path when a benchmark runs
from outbox import PASSWORD, address, setup_boxes
from outbox import start_host as outbox_host


def start_host(data: Path) -> Any:
    return outbox_host(data, None, health_every=86400.0)


def smtplib_sign_ins(port: int, count: int) -> float:
    """Seconds for ``count`` sign-ins with smtplib, one after the other."""
    started = time.perf_counter()
    for i in range(count):
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
            smtp.ehlo("bench.example")
            smtp.login(address(i), PASSWORD)
    return time.perf_counter() - started


def falcana_verifies(host: Any, boxes: list[Any]) -> float:
    started = time.perf_counter()
    for box in boxes:
        report = host.health.verify(box)
        assert report is not None and report.state.value == "ok", report
    return time.perf_counter() - started


def cost_per_verify(rounds: int, count: int) -> None:
    with sink() as port, tempfile.TemporaryDirectory() as data:
        host = start_host(Path(data))
        boxes = setup_boxes(host, port, count)
        ours, reference = [], []
        for _ in range(rounds):
            reference.append(smtplib_sign_ins(port, count) / count)
            ours.append(falcana_verifies(host, boxes) / count)
        host.close()
    mine, base = statistics.median(ours), statistics.median(reference)
    print(f"1. verify cost, instant sink, {count} mailboxes x {rounds} rounds")
    print(f"   smtplib sign-in + QUIT   {base * 1000:7.2f} ms per mailbox (baseline)")
    print(f"   host.health.verify       {mine * 1000:7.2f} ms per mailbox "
          f"(ratio {mine / base:.2f} of the baseline)")


def asyncio_sign_ins(port: int, count: int, connections: int) -> float:
    import aiosmtplib

    async def one(i: int, gate: asyncio.Semaphore) -> None:
        async with gate:
            smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=60,
                                   start_tls=False)
            await smtp.connect()
            await smtp.login(address(i), PASSWORD)
            await smtp.quit()

    async def every() -> None:
        gate = asyncio.Semaphore(connections)
        await asyncio.gather(*(one(i, gate) for i in range(count)))

    started = time.perf_counter()
    asyncio.run(every())
    return time.perf_counter() - started


def worker_verifies(host: Any, ids: list[int], connections: int) -> float:
    """Seconds one worker needs for the verifies of ``ids`` (the others not due)."""
    from sqlalchemy import update

    from falcana_core.models import MailboxHealth
    from falcana_core.worker import Worker

    now = dt.datetime.now(dt.UTC)
    with host.engine.begin() as conn:
        conn.execute(update(MailboxHealth).values(next_check_at=now + dt.timedelta(days=9)))
        conn.execute(update(MailboxHealth).where(
            MailboxHealth.mailbox_id.in_(ids)).values(
            next_check_at=now - dt.timedelta(seconds=1)))
    worker = Worker(host, concurrency=connections)
    started = time.perf_counter()
    worker.run(once=True)
    seconds = time.perf_counter() - started
    assert worker.checked == len(ids), (worker.checked, len(ids))
    return seconds


def fleet(sizes: list[int], delay: float, connections: int) -> None:
    largest = max(sizes)
    with sink(delay) as port, tempfile.TemporaryDirectory() as data:
        host = start_host(Path(data))
        started = time.perf_counter()
        ids = [b.id for b in setup_boxes(host, port, largest)]
        print(f"2. one worker, {connections} connections, every reply held back "
              f"{delay * 1000:.0f} ms ({largest} mailboxes set up in "
              f"{time.perf_counter() - started:.0f} s)")
        print(f"   {'mailboxes':>9}  {'worker s':>9}  {'asyncio s':>9}  {'ratio':>6}  "
              f"{'worker ms/mailbox':>17}")
        for n in sizes:
            reference = asyncio_sign_ins(port, n, connections)
            ours = worker_verifies(host, ids[:n], connections)
            print(f"   {n:>9}  {ours:>9.1f}  {reference:>9.1f}  {reference / ours:>6.2f}  "
                  f"{ours / n * 1000:>17.1f}")
        print("   ratio: the asyncio client's time over the worker's (1.0: as fast)")
        listing(host, largest)
        host.close()


def listing(host: Any, count: int) -> None:
    """The health view's list of every mailbox against reading the same rows with one
    query (the least the view can do)."""
    from sqlalchemy import select

    from falcana_core.models import Mailbox, MailboxHealth

    timings: dict[str, list[float]] = {"query": [], "listing": []}
    for _ in range(3):
        started = time.perf_counter()
        with host.engine.connect() as conn:
            rows = list(conn.execute(select(Mailbox.address, MailboxHealth.state).join(
                MailboxHealth, MailboxHealth.mailbox_id == Mailbox.id)))
        timings["query"].append(time.perf_counter() - started)
        started = time.perf_counter()
        shown = host.health.listing()
        timings["listing"].append(time.perf_counter() - started)
        assert len(rows) == len(shown) == count
    base, ours = (statistics.median(timings[k]) for k in ("query", "listing"))
    print(f"3. the health view's list of {count} mailboxes (every one verified)")
    print(f"   one query of the rows      {base * 1000:8.1f} ms (baseline)")
    print(f"   host.health.listing()      {ours * 1000:8.1f} ms (ratio {ours / base:.1f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="500,2000,10000")
    parser.add_argument("--delay", type=float, default=0.03)
    parser.add_argument("--connections", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cost-mailboxes", type=int, default=200)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    logging.getLogger("mail.log").setLevel(logging.ERROR)
    cost_per_verify(args.rounds, args.cost_mailboxes)
    fleet([int(s) for s in args.sizes.split(",")], args.delay, args.connections)


if __name__ == "__main__":
    main()
