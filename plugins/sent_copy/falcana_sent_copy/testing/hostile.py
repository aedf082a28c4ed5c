"""An IMAP server that turns hostile once the client has logged in: for tests of the
connection guard (deadline, SIGTERM, read budget) against the copy in Sent.

    server = HostileImap("trickle")   # LIST answered a byte every ``interval`` seconds
    server = HostileImap("literal")   # LIST announces {1000000000} and streams it
    server = HostileImap("line")      # LIST answered by one endless line
    server = HostileImap("banner", banner=b"SSH-2.0-OpenSSH_9.2p1 Debian-2\\r\\n")

``server.streamed`` counts the bytes it managed to send; ``server.connections`` who came.
"""

from __future__ import annotations

import socket

from falcana_core.testing.net import LoopbackServer

BEHAVIOURS = ("trickle", "literal", "line", "banner")


class HostileImap(LoopbackServer):
    def __init__(self, behaviour: str, *, interval: float = 1.0, banner: bytes = b"",
                 host: str = "127.0.0.1") -> None:
        if behaviour not in BEHAVIOURS:
            raise ValueError(f"unknown behaviour {behaviour!r}")
        self.behaviour, self.interval, self.banner = behaviour, interval, banner
        self.streamed = 0
        self.commands: list[bytes] = []
        super().__init__(host)

    def serve(self, conn: socket.socket) -> None:
        if self.behaviour == "banner":
            conn.sendall(self.banner)
            self._closed.wait(30)
            return
        conn.sendall(b"* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] ready\r\n")
        reader = conn.makefile("rb")
        while not self._closed.is_set():
            line = reader.readline(8192)
            if not line:
                return
            self.commands.append(line)
            tag, _, rest = line.partition(b" ")
            verb = rest.split(b" ", 1)[0].strip().upper()
            if verb == b"LIST":
                self._hostile(conn)
                return
            if verb == b"CAPABILITY":
                conn.sendall(b"* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n")
            conn.sendall(tag + b" OK done\r\n")

    def _hostile(self, conn: socket.socket) -> None:
        if self.behaviour == "trickle":
            for byte in b'* LIST (\\Sent) "/" "Sent"\r\n' * 1000:
                if self._closed.wait(self.interval):
                    return
                conn.sendall(bytes([byte]))
                self.streamed += 1
            return
        head = b'* LIST (\\Sent) "/" {1000000000}\r\n' if self.behaviour == "literal" \
            else b'* LIST (\\Sent) "/" "'
        conn.sendall(head)
        chunk = b"x" * 65536
        while not self._closed.is_set() and self.streamed < 1_000_000_000:
            conn.sendall(chunk)
            self.streamed += len(chunk)
