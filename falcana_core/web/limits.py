"""Bounds on actions run from the web (a test e-mail talks to a server for up to
``FALCANA_TEST_DEADLINE``): a slow server must not take every request thread, and no user
may turn the test into a scanner by repeating it.

* at most ``slots`` actions run at once in this process; the next is answered at once
  with 503, it does not queue behind them;
* one connection test per user at a time, and one other action;
* at most ``per_minute`` connection tests per user in any minute (``Action.rate_limited``),
  and ``helper_per_minute`` of the actions that help to fill in a form (finding
  settings), so an admin setting up user after user never meets the test's limit.
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
    def __init__(self, slots: int = 4, per_minute: int = 10,
                 helper_per_minute: int = 60) -> None:
        self._slots = threading.BoundedSemaphore(max(1, slots))
        self.per_minute = per_minute
        self.helper_per_minute = helper_per_minute
        self._lock = threading.Lock()
        self._running: set[str] = set()
        self._recent: dict[str, deque[float]] = {}

    @contextlib.contextmanager
    def enter(self, user: str, *, limited: bool = True) -> Iterator[None]:
        """Run one action of ``user``; ``limited``: a connection test (else a helper)."""
        now = time.monotonic()
        key = user if limited else f"{user}\x00helper"
        allowed = self.per_minute if limited else self.helper_per_minute
        with self._lock:
            recent = self._recent.setdefault(key, deque())
            while recent and now - recent[0] >= 60:
                recent.popleft()
            if key in self._running:
                raise Busy("running", 5)
            if len(recent) >= allowed:
                raise Busy("rate", int(60 - (now - recent[0])) + 1)
            if not self._slots.acquire(blocking=False):
                raise Busy("busy", 5)
            recent.append(now)
            self._running.add(key)
        try:
            yield
        finally:
            with self._lock:
                self._running.discard(key)
            self._slots.release()
