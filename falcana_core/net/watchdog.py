"""Deadlines for many connections at once, kept by one thread.

A server that trickles a byte at a time never trips a read time-out, so every step of an
exchange runs under an absolute deadline at which its socket is shut. A timer thread per
step costs more than the step itself when a worker keeps dozens of connections busy; one
thread with a heap of alarms serves them all.
"""

from __future__ import annotations

import dataclasses
import heapq
import itertools
import threading
import time
from collections.abc import Callable


@dataclasses.dataclass(order=True)
class Alarm:
    when: float
    seq: int
    fn: Callable[[], None] = dataclasses.field(compare=False)
    cancelled: bool = dataclasses.field(default=False, compare=False)


class Watchdog:
    """Calls a function when its monotonic time comes, unless disarmed before."""

    def __init__(self) -> None:
        self._heap: list[Alarm] = []
        self._cancelled = 0
        self._cond = threading.Condition()
        self._seq = itertools.count()
        self._thread: threading.Thread | None = None

    def arm(self, when: float, fn: Callable[[], None]) -> Alarm:
        """Call ``fn`` (quick, and safe from another thread: shut a socket) at ``when``."""
        alarm = Alarm(when, next(self._seq), fn)
        with self._cond:
            heapq.heappush(self._heap, alarm)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, daemon=True,
                                                name="falcana-watchdog")
                self._thread.start()
            if self._heap[0] is alarm:
                self._cond.notify()
        return alarm

    def disarm(self, alarm: Alarm) -> None:
        with self._cond:
            if alarm.cancelled:
                return
            alarm.cancelled = True
            self._cancelled += 1
            # most alarms are disarmed long before their time: drop them now and then,
            # so the heap holds about the alarms that are still armed
            if self._cancelled > 64 and self._cancelled * 2 > len(self._heap):
                self._heap = [a for a in self._heap if not a.cancelled]
                heapq.heapify(self._heap)
                self._cancelled = 0

    def pending(self) -> int:
        with self._cond:
            return len(self._heap) - self._cancelled

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._heap and self._heap[0].cancelled:
                    heapq.heappop(self._heap)
                    self._cancelled -= 1
                if not self._heap:
                    self._cond.wait()
                    continue
                delay = self._heap[0].when - time.monotonic()
                if delay > 0:
                    self._cond.wait(delay)
                    continue
                alarm = heapq.heappop(self._heap)
                alarm.cancelled = True  # fired: a later disarm is a no-op
            alarm.fn()


watchdog = Watchdog()
