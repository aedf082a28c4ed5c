"""Bounds on actions run from the web (a test e-mail talks to a server for up to
``FALCANA_TEST_DEADLINE``): a slow server must not take every request thread, and no user
may turn the test into a scanner by repeating it.

* at most ``slots`` actions run at once in this process; the next is answered at once
  with 503, it does not queue behind them;
* one action per user at a time;
* at most ``per_minute`` actions per user in any minute.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import deque
from collections.abc import Iterator


class Busy(Exception):
    """No slot free, or this user already runs one (``retry_after`` in seconds)."""

    def __init__(self, reason: str, retry_after: int) -> None:
        super().__init__(reason)
        self.reason = reason  # "busy", "running" or "rate"
        self.retry_after = retry_after


class ActionGate:
    def __init__(self, slots: int = 4, per_minute: int = 10) -> None:
        self._slots = threading.BoundedSemaphore(max(1, slots))
        self.per_minute = per_minute
        self._lock = threading.Lock()
        self._running: set[str] = set()
        self._recent: dict[str, deque[float]] = {}

    @contextlib.contextmanager
    def enter(self, user: str) -> Iterator[None]:
        now = time.monotonic()
        with self._lock:
            recent = self._recent.setdefault(user, deque())
            while recent and now - recent[0] >= 60:
                recent.popleft()
            if user in self._running:
                raise Busy("running", 5)
            if len(recent) >= self.per_minute:
                raise Busy("rate", int(60 - (now - recent[0])) + 1)
            if not self._slots.acquire(blocking=False):
                raise Busy("busy", 5)
            recent.append(now)
            self._running.add(user)
        try:
            yield
        finally:
            with self._lock:
                self._running.discard(user)
            self._slots.release()
