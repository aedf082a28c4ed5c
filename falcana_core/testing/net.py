"""Hostile and silent TCP peers for tests of any protocol: a port that never answers, a
server that sends another service's banner or trickles bytes, free and closed ports."""

from __future__ import annotations

import contextlib
import socket
import threading
from typing import Any


class SilentServer:
    """Accepts TCP connections and never says a word: for time-out tests."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, 0))
        self._sock.listen(16)
        self.port = self._sock.getsockname()[1]

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> SilentServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ScriptedServer:
    """A hostile TCP server on loopback: to each connection it sends ``banner`` (another
    service's greeting, or megabytes of one), then ``trickle`` one byte every
    ``interval`` seconds until the client goes away. ``connections`` counts who came."""

    def __init__(self, banner: bytes = b"", *, trickle: bytes = b"",
                 interval: float = 1.0, host: str = "127.0.0.1") -> None:
        self.banner, self.trickle, self.interval = banner, trickle, interval
        self.host = host
        self.connections = 0
        self.received = bytearray()
        self._closed = threading.Event()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, 0))
        self._sock.listen(16)
        self.port = self._sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                conn, _addr = self._sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._play, args=(conn,), daemon=True).start()

    def _play(self, conn: socket.socket) -> None:
        with conn:
            try:
                conn.sendall(self.banner)
                for byte in self.trickle * 10_000:
                    if self._closed.wait(self.interval):
                        return
                    conn.sendall(bytes([byte]))
            except OSError:
                return

    def close(self) -> None:
        self._closed.set()
        self._sock.close()

    def __enter__(self) -> ScriptedServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free right now (for servers a test starts)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


def closed_port(host: str = "127.0.0.1") -> int:
    """A port on which nothing listens (connection refused)."""
    return free_port(host)


#: what ``HostileServer`` can do to a client, one behaviour per server
HOSTILE_BEHAVIOURS = ("silent", "trickle", "flood", "banner", "closed", "unknown_ca")
FOREIGN_BANNER = b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n"


class HostileServer:
    """One hostile behaviour on loopback, over TLS when given a server context (for
    clients that speak TLS first: HTTPS, implicit TLS):

    * ``silent``: accepts and never says a word
    * ``trickle``: one byte every ``interval`` seconds, no line ever ends
    * ``flood``: megabytes without a line end, as fast as the client reads
    * ``banner``: another service's banner (SSH), then nothing
    * ``closed``: nothing listens on ``port``
    * ``unknown_ca``: TLS with a certificate from a CA nobody trusts (needs ``tls``)

    ``streamed`` counts the bytes sent after the banner; ``connections`` who came."""

    def __init__(self, behaviour: str, *, tls: Any = None, interval: float = 0.5,
                 host: str = "127.0.0.1") -> None:
        if behaviour not in HOSTILE_BEHAVIOURS:
            raise ValueError(f"unknown behaviour {behaviour!r}")
        self.behaviour, self.tls, self.interval, self.host = behaviour, tls, interval, host
        self.connections = 0
        self.streamed = 0
        self._closed = threading.Event()
        self._sock: socket.socket | None = None
        if behaviour == "closed":
            self.port = closed_port(host)
            return
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, 0))
        self._sock.listen(16)
        self.port = self._sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        assert self._sock is not None
        while not self._closed.is_set():
            try:
                conn, _addr = self._sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._play, args=(conn,), daemon=True).start()

    def _play(self, raw: socket.socket) -> None:
        conn: Any = raw
        try:
            if self.tls is not None:
                raw.settimeout(10)
                conn = self.tls.wrap_socket(raw, server_side=True)
                conn.settimeout(None)
            if self.behaviour == "banner":
                conn.sendall(FOREIGN_BANNER)
            if self.behaviour == "trickle":
                while not self._closed.wait(self.interval):
                    conn.sendall(b"x")
                    self.streamed += 1
            elif self.behaviour == "flood":
                chunk = b"x" * 65536
                while not self._closed.is_set() and self.streamed < 2_000_000_000:
                    conn.sendall(chunk)
                    self.streamed += len(chunk)
            else:
                self._closed.wait(60)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                conn.close()

    def close(self) -> None:
        self._closed.set()
        if self._sock is not None:
            self._sock.close()
