"""Hostile and silent TCP peers for tests of any protocol: a port that never answers, a
server that sends another service's banner or trickles bytes, free and closed ports."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterator
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


class LoopbackServer:
    """A TCP server on loopback that serves each connection in a thread of its own with
    ``serve(conn)``: the base of the kits' scripted and hostile servers. ``connections``
    counts who came; ``close()`` stops it. Subclasses set what ``serve`` needs before
    calling ``__init__`` (it starts accepting)."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.connections = 0
        self._closed = threading.Event()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, 0))
        self._sock.listen(16)
        self.port: int = self._sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                conn, _addr = self._sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve_closing, args=(conn,), daemon=True).start()

    def _serve_closing(self, conn: socket.socket) -> None:
        try:
            self.serve(conn)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                conn.close()

    def serve(self, conn: socket.socket) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self._closed.set()
        self._sock.close()

    def __enter__(self) -> LoopbackServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ScriptedServer(LoopbackServer):
    """A hostile TCP server on loopback: to each connection it sends ``banner`` (another
    service's greeting, or megabytes of one), then ``trickle`` one byte every
    ``interval`` seconds until the client goes away. ``connections`` counts who came."""

    def __init__(self, banner: bytes = b"", *, trickle: bytes = b"",
                 interval: float = 1.0, host: str = "127.0.0.1") -> None:
        self.banner, self.trickle, self.interval = banner, trickle, interval
        self.received = bytearray()
        super().__init__(host)

    def serve(self, conn: socket.socket) -> None:
        conn.sendall(self.banner)
        for byte in self.trickle * 10_000:
            if self._closed.wait(self.interval):
                return
            conn.sendall(bytes([byte]))


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
HOSTILE_BEHAVIOURS = ("silent", "trickle", "flood", "banner", "closed", "unknown_ca",
                      "wrong_name", "redirect_internal", "redirect_http",
                      "tls_upgrade_stripped")
#: a protocol's greeting, and its answer to each line a client sends (``talk``)
Talk = tuple[bytes, Callable[[bytes], bytes]]
FOREIGN_BANNER = b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n"


class HostileServer(LoopbackServer):
    """One hostile behaviour on loopback, over TLS when given a server context (for
    clients that speak TLS first: HTTPS, implicit TLS):

    * ``silent``: accepts and never says a word
    * ``trickle``: one byte every ``interval`` seconds, no line ever ends
    * ``flood``: megabytes without a line end, as fast as the client reads
    * ``banner``: another service's banner (SSH), then nothing
    * ``closed``: nothing listens on ``port``
    * ``unknown_ca``: TLS with a certificate from a CA nobody trusts (needs ``tls``)
    * ``wrong_name``: TLS with a trusted certificate for another name (needs ``tls``)
    * ``redirect_internal``, ``redirect_http``: answers an HTTP request with a redirect
      to ``redirect_to`` (an internal port; a plain ``http://`` address)
    * ``tls_upgrade_stripped``: speaks ``talk`` (a protocol's test kit has it: a greeting and
      an answer to each line) that offers login and no TLS upgrade, and says yes to
      everything else, as a downgrading middlebox would

    ``streamed`` counts the bytes sent after the banner, ``received`` what clients sent,
    ``connections`` who came."""

    def __init__(self, behaviour: str, *, tls: Any = None, interval: float = 0.5,
                 host: str = "127.0.0.1", redirect_to: str = "",
                 talk: Talk | None = None) -> None:
        if behaviour not in HOSTILE_BEHAVIOURS:
            raise ValueError(f"unknown behaviour {behaviour!r}")
        if behaviour == "tls_upgrade_stripped" and talk is None:
            raise ValueError("tls_upgrade_stripped needs the protocol's talk")
        self.behaviour, self.tls, self.interval = behaviour, tls, interval
        self.redirect_to, self.talk = redirect_to, talk
        self.streamed = 0
        self.received = bytearray()
        if behaviour != "closed":
            super().__init__(host)
            return
        self.host, self.connections, self._closed = host, 0, threading.Event()
        self.port = closed_port(host)

    def serve(self, raw: socket.socket) -> None:
        conn: Any = raw
        if self.tls is not None:
            raw.settimeout(10)
            conn = self.tls.wrap_socket(raw, server_side=True)
            conn.settimeout(None)
        with conn:
            if self.behaviour == "banner":
                conn.sendall(FOREIGN_BANNER)
            if self.behaviour.startswith("redirect_"):
                self._redirect(conn)
            elif self.behaviour == "tls_upgrade_stripped":
                self._talk(conn)
            elif self.behaviour == "trickle":
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

    def _lines(self, conn: Any) -> Iterator[bytes]:
        """The client's lines, each kept in ``received``, until it goes away."""
        buffer = b""
        conn.settimeout(0.2)
        while not self._closed.is_set() and len(self.received) < 1_000_000:
            try:
                data = conn.recv(65536)
            except TimeoutError:
                continue
            if not data:
                return
            self.received += data
            buffer += data
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                yield line.rstrip(b"\r")

    def _redirect(self, conn: Any) -> None:
        for line in self._lines(conn):
            if not line:  # the end of the request's head
                conn.sendall(b"HTTP/1.1 302 Found\r\nLocation: " + self.redirect_to.encode()
                             + b"\r\nContent-Length: 0\r\n\r\n")

    def _talk(self, conn: Any) -> None:
        assert self.talk is not None
        greeting, answer = self.talk
        conn.sendall(greeting)
        for line in self._lines(conn):
            conn.sendall(answer(line))

    def close(self) -> None:
        if self.behaviour == "closed":
            self._closed.set()
            return
        super().close()
