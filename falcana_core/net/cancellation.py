"""Aborting open connections at once, from a signal handler or another thread."""

from __future__ import annotations

import threading
from collections.abc import Callable


class Cancellation:
    """How to abort open connections at once: a stopping worker (SIGTERM) must not wait
    for a server that trickles, and a worker whose claim could not be renewed must not go
    on sending for it. Transports register an abort function per open connection (it must
    be safe to call from a signal handler or another thread: shut the socket, no I/O
    beyond that) and unregister it when the connection closes. Each registration
    remembers the thread that opened the connection."""

    def __init__(self) -> None:
        self._live: dict[int, tuple[int, Callable[[], None]]] = {}
        self._next = 0
        self._lock = threading.Lock()

    def register(self, abort: Callable[[], None]) -> int:
        with self._lock:
            self._next += 1
            self._live[self._next] = (threading.get_ident(), abort)
            return self._next

    def unregister(self, token: int) -> None:
        with self._lock:
            self._live.pop(token, None)

    def abort_all(self) -> int:
        return self._abort(lambda _thread: True)

    def abort_thread(self, thread: int) -> int:
        """Abort the connections one thread opened (its claim is no longer ours)."""
        return self._abort(lambda opener: opener == thread)

    def _abort(self, which: Callable[[int], bool]) -> int:
        with self._lock:
            aborts = [abort for thread, abort in self._live.values() if which(thread)]
        for abort in aborts:
            abort()
        return len(aborts)


cancellation = Cancellation()
