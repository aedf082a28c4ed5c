"""One outgoing connection's bounds, for clients that speak a protocol on a raw socket
(SMTP, IMAP, discovery's probes, and any plugin's): the work's absolute deadline,
enforced by the watchdog; SIGTERM, which shuts the socket at once; and a budget for
everything read, so a server cannot choose how much memory we spend (``{1000000000}``).

A per-read time-out alone bounds nothing: a server that answers a byte every few seconds
never trips it. The guard shuts the socket at the deadline, whatever is being read, and
turns the resulting error into the reason (``DeadlineExceeded``, ``Stopped``).
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator
from typing import BinaryIO, Protocol

from falcana_core.net.cancellation import cancellation
from falcana_core.net.watchdog import Alarm, watchdog

#: what a client reads from one server in one session unless it says otherwise
DEFAULT_MAX_READ = 4 * 1024 * 1024


class RegisterClient(Protocol):
    """The ``register`` a ``register_outgoing_clients`` hook receives."""

    def __call__(self, name: str, description: str) -> None: ...


class DeadlineExceeded(TimeoutError):
    """The work's overall time ran out; the connection was shut."""


class Stopped(ConnectionAbortedError):
    """The process is stopping (SIGTERM) and shut this connection."""


class AnswerTooLarge(OSError):
    """The server sent more than this client reads from it."""


class ConnectionGuard:
    """Deadline, cancellation and read budget of one connection.

    ``watch(sock)`` once the socket exists; run every exchange inside ``step()``; count
    what is read with ``take(n)``; ``close()`` when the connection ends."""

    def __init__(self, deadline: float | None, *, max_read: int = DEFAULT_MAX_READ,
                 per_read: float = 30.0) -> None:
        self.deadline = deadline
        self.max_read = max_read
        self.per_read = per_read
        self.read = 0
        self.expired = False
        self.stopped = False
        self._sock: socket.socket | None = None
        self._token: int | None = None

    def watch(self, sock: socket.socket) -> None:
        """The socket to shut at the deadline or on SIGTERM."""
        self._sock = sock
        if self._token is None:
            self._token = cancellation.register(self.stop)

    def timeout(self) -> float:
        """The time-out for the next read: the per-read one, never past the deadline."""
        if self.deadline is None:
            return self.per_read
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            self.expired = True
            raise DeadlineExceeded("the overall time ran out")
        return min(self.per_read, remaining)

    @contextlib.contextmanager
    def step(self) -> Iterator[None]:
        """One exchange under the deadline: the socket is shut when it passes. An error
        raised because the guard shut the socket comes out as the reason it did."""
        if self.stopped:
            raise Stopped("stopped: falcana is shutting down")
        timeout = self.timeout()
        if self._sock is not None:
            self._sock.settimeout(timeout)
        alarm: Alarm | None = None
        if self.deadline is not None:
            alarm = watchdog.arm(self.deadline, self._expire)
        try:
            yield
        except AnswerTooLarge:
            self.shut()
            raise
        except Exception as exc:
            reason = self._reason()
            if reason is not None:
                raise reason from exc
            raise
        finally:
            if alarm is not None:
                watchdog.disarm(alarm)
        reason = self._reason()
        if reason is not None:
            raise reason

    def reader(self, sock: socket.socket) -> BudgetedReader:
        """``sock.makefile("rb")`` that counts every byte against the budget: for a
        library that reads lines as long as the server sends them (smtplib's replies)."""
        return BudgetedReader(sock.makefile("rb"), self)

    def take(self, n: int) -> None:
        """Count ``n`` bytes read (or about to be: a literal's announced size)."""
        self.read += n
        if self.read > self.max_read:
            raise AnswerTooLarge(f"the server sent more than {self.max_read // 1024} KiB")

    def _reason(self) -> Exception | None:
        if self.stopped:
            return Stopped("stopped: falcana is shutting down")
        if self.expired:
            return DeadlineExceeded("the overall time ran out")
        return None

    def _expire(self) -> None:
        self.expired = True
        self.shut()

    def stop(self) -> None:
        """The process is stopping: shut now (safe in a signal handler)."""
        self.stopped = True
        self.shut()

    def shut(self) -> None:
        sock = self._sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        """The connection ends: the socket is closed, SIGTERM has nothing left to shut."""
        if self._token is not None:
            cancellation.unregister(self._token)
            self._token = None
        sock, self._sock = self._sock, None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.close()


class BudgetedReader:
    """A binary file over a socket whose reads count against a guard's budget."""

    def __init__(self, raw: BinaryIO, guard: ConnectionGuard) -> None:
        self._raw = raw
        self._guard = guard

    def readline(self, limit: int = -1) -> bytes:
        line = self._raw.readline(limit)
        self._guard.take(len(line))
        return line

    def read(self, n: int = -1) -> bytes:
        data = self._raw.read(n)
        self._guard.take(len(data))
        return data

    def close(self) -> None:
        self._raw.close()
