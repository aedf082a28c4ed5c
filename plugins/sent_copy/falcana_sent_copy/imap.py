"""One IMAP session for the copy in Gesendet, step by step like the SMTP step log:
connect, tls/starttls, greeting, login, folder, append. imaplib from the standard library
(well kept, no dependency, and we need only LIST, SEARCH and APPEND); the socket comes from
the destination policy and every step runs under the core's connection guard, like every
outgoing connection: the work's deadline (the socket is shut when it passes, whatever is
being read), SIGTERM, and a budget for what the server sends (a literal's announced size
counts before a byte of it is read).
"""

from __future__ import annotations

import contextlib
import dataclasses
import imaplib
import re
import socket
import ssl
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, cast

from falcana_core.api import (
    DeliveryFailure,
    FailureKind,
    SecretValue,
    Step,
    StepProblem,
    StepStatus,
    printable,
)
from falcana_core.api.net import (
    AnswerTooLarge,
    ConnectionGuard,
    DeadlineExceeded,
    NetPolicy,
    Stopped,
    connect,
    tls_context,
)
from falcana_sent_copy import utf7

T = TypeVar("T")
S = TypeVar("S", bound=socket.socket)

#: folder names mail programs use for sent mail, when the server marks none \Sent
SENT_NAMES = ("Gesendet", "Gesendete Objekte", "Gesendete Elemente", "Sent",
              "Sent Items", "Sent Messages", "INBOX.Sent", "INBOX.Gesendet",
              "INBOX/Sent", "INBOX/Gesendet")
#: what one session reads from the server at most: a LIST of thousands of folders fits
MAX_READ = 4 * 1024 * 1024
#: one line of a response (imaplib's own limit is a million bytes)
MAX_LINE = 64 * 1024
_LIST = re.compile(rb'\((?P<flags>[^)]*)\) (?:"(?P<sep>[^"]*)"|NIL) (?P<name>.+)$')


@dataclasses.dataclass(frozen=True)
class ImapSettings:
    mailbox_id: int
    host: str
    port: int
    security: str  # "ssl", "tls", "normal"
    username: str
    password: SecretValue | None
    folder: str = ""  # remembered or chosen; empty: find it
    address: str = ""
    auth_method: str = "password"  # the mailbox's e-mail sign-in (OAuth2: see imap_login)


class StepFailed(Exception):
    def __init__(self, failure: DeliveryFailure) -> None:
        super().__init__(f"step {failure.step} failed: {failure.kind}")
        self.failure = failure


class NoSentFolder(Exception):
    pass


class NoPassword(Exception):
    """No IMAP password, and the e-mail password is not allowed to go to this server."""


class NotImap(Exception):
    """Another service answered on the port (SSH, a database): its banner is not shown."""


class _PolicyIMAP(imaplib.IMAP4):
    """imaplib with the socket made by the destination policy (checked addresses only),
    reading within the guard's budget."""

    def __init__(self, sock: socket.socket, host: str, guard: ConnectionGuard) -> None:
        self._given = sock
        self.guard = guard
        super().__init__(host, 0)

    def open(self, host: str = "", port: int = 0, timeout: float | None = None) -> None:
        self.host, self.port = host, port
        self.sock = self._given
        self.file = self.sock.makefile("rb")

    def read(self, size: int) -> bytes:
        self.guard.take(size)  # the announced size counts first: {1000000000} reads nothing
        return cast(bytes, self.file.read(size))

    def readline(self) -> bytes:
        line = cast(bytes, self.file.readline(MAX_LINE + 1))
        self.guard.take(len(line))
        if len(line) > MAX_LINE:
            raise AnswerTooLarge(f"a line longer than {MAX_LINE // 1024} KiB")
        return line

    def _connect(self) -> Any:
        """The greeting: an answer that is no IMAP greeting is another service's."""
        try:
            return super()._connect()  # type: ignore[misc]
        except imaplib.IMAP4.error:
            raise NotImap("no IMAP server answered on this port") from None

    def starttls(self, ssl_context: Any = None) -> Any:
        answer = super().starttls(ssl_context=ssl_context)
        self.guard.watch(self.sock)  # the TLS socket owns the connection now
        return answer


class ImapSession:
    def __init__(self, settings: ImapSettings, *, policy: NetPolicy, ca_bundle: Path | None,
                 timeout: float, deadline: float | None = None,
                 login_hook: Callable[[ImapSession], str | None] | None = None) -> None:
        self.settings = settings
        self.login_hook = login_hook
        self.policy = policy
        self.ca_bundle = ca_bundle
        self.timeout = timeout
        self.deadline = deadline
        self.steps: list[Step] = []
        self.imap: _PolicyIMAP | None = None
        self.folder: str | None = None
        self.guard = ConnectionGuard(deadline, max_read=MAX_READ, per_read=timeout)

    # -- steps -------------------------------------------------------------------------

    def step(self, step_id: str, fn: Callable[[], T],
             detail: Callable[[T], dict[str, Any]] | None = None) -> T:
        started = time.perf_counter()
        self.guard.deadline = self.deadline  # a kept session gets each copy's deadline
        try:
            with self.guard.step():
                result = fn()
        except Exception as exc:
            failure = self._classify(step_id, exc)
            self.steps.append(Step(step_id, StepStatus.FAILED,
                                   (time.perf_counter() - started) * 1000, None,
                                   {"error": failure.detail}))
            self.close()
            raise StepFailed(failure) from None
        self.steps.append(Step(step_id, StepStatus.OK, (time.perf_counter() - started) * 1000,
                               None, detail(result) if detail else {}))
        return result

    def _timeout(self) -> float:
        return max(0.1, self.guard.timeout())

    def _classify(self, step_id: str, exc: BaseException) -> DeliveryFailure:
        s = self.settings
        base: dict[str, Any] = {"step": step_id, "host": s.host, "port": s.port,
                                "security": s.security, "address": s.address,
                                "username": s.username}
        kind = FailureKind.OTHER
        data: dict[str, Any] = {"protocol": "imap"}
        if isinstance(exc, OSError) and getattr(exc, "reason", None) in ("address", "port"):
            kind = FailureKind.POLICY
        elif isinstance(exc, Stopped):
            kind = FailureKind.CLOSED
            data["stopped"] = True
        elif isinstance(exc, DeadlineExceeded):
            kind = FailureKind.TIMEOUT
            data["deadline"] = True
        elif isinstance(exc, AnswerTooLarge):
            data["too_long"] = True
        elif isinstance(exc, NotImap):
            data["not_imap"] = True
        elif isinstance(exc, NoPassword):
            kind = FailureKind.NO_CREDENTIALS
        elif isinstance(exc, socket.gaierror):
            kind = FailureKind.DNS
        elif isinstance(exc, ssl.SSLCertVerificationError):
            kind = FailureKind.TLS_VERIFY
        elif isinstance(exc, ssl.SSLError):
            kind = FailureKind.TLS_PROTOCOL
        elif isinstance(exc, ConnectionRefusedError):
            kind = FailureKind.REFUSED
        elif isinstance(exc, TimeoutError | socket.timeout):
            kind = FailureKind.TIMEOUT
        elif isinstance(exc, StepProblem):  # a sign-in plugin's problem (OAuth2 token)
            kind = exc.kind
            data.update(exc.data)
        elif isinstance(exc, NoSentFolder):
            kind = FailureKind.NOT_OFFERED
            data["what"] = "sent_folder"
        elif isinstance(exc, imaplib.IMAP4.error) and step_id == "imap.login":
            kind = FailureKind.REPLY
            data["login_refused"] = True
        elif isinstance(exc, imaplib.IMAP4.error):
            kind = FailureKind.REPLY
        elif isinstance(exc, OSError):
            kind = FailureKind.UNREACHABLE
        detail = printable(str(exc) or exc.__class__.__name__, 300)
        return DeliveryFailure(kind=kind, detail=detail, data=data, **base)

    # -- the exchange ------------------------------------------------------------------

    def open(self) -> None:
        s = self.settings
        infos = self.step("imap.resolve", lambda: self.policy.resolve(s.host, s.port),
                          detail=lambda r: {"addresses": sorted({str(i[4][0]) for i in r})})
        sock = self.step("imap.connect", lambda: self._watched(connect(infos, self._timeout())))
        ctx = tls_context(self.ca_bundle)
        if s.security == "ssl":
            sock = self.step("imap.tls", lambda: self._watched(
                ctx.wrap_socket(sock, server_hostname=s.host)),
                detail=lambda t: {"tls_version": t.version()})
        self.imap = self.step("imap.greeting", lambda: _PolicyIMAP(sock, s.host, self.guard),
                              detail=lambda i: {"capabilities": sorted(i.capabilities)})
        if s.security == "tls":
            self.step("imap.starttls", lambda: self.imap.starttls(ssl_context=ctx),  # type: ignore[union-attr]
                      detail=lambda _r: {})
        if s.auth_method != "password":
            if self.login_hook is None or self.login_hook(self) is None:
                self.step("imap.login", lambda: _refuse(
                    f"no enabled plugin signs in with {s.auth_method} over IMAP"))
            return
        self.step("imap.login", self._login)

    def _watched(self, sock: S) -> S:
        sock.settimeout(self._timeout())
        self.guard.watch(sock)
        return sock

    def _login(self) -> str:
        assert self.imap is not None
        s = self.settings
        if s.password is None:
            raise NoPassword("no password for this IMAP server")
        self.imap._encoding = "utf-8"  # type: ignore[attr-defined]  # umlauts (RFC 6855)
        typ, _data = self.imap.login(s.username, s.password.reveal())
        return str(typ)

    def xoauth2(self, account: str, token: SecretValue) -> str:
        """SASL XOAUTH2 instead of LOGIN, as the ``imap.login`` step."""
        def login() -> str:
            assert self.imap is not None
            raw = f"user={account}\x01auth=Bearer {token.reveal()}\x01\x01".encode()
            typ, _data = self.imap.authenticate("XOAUTH2", lambda _challenge: raw)
            return "XOAUTH2" if typ == "OK" else str(typ)

        return self.step("imap.login", login, detail=lambda m: {"mechanism": m})

    def find_folder(self) -> str:
        """The Sent folder: the remembered or chosen one, else the one marked \\Sent
        (RFC 6154), else the first usual name; raises NoSentFolder."""
        def find() -> str:
            assert self.imap is not None
            folders = self._list()
            if self.settings.folder and self.settings.folder in {n for n, _f in folders}:
                return self.settings.folder
            for name, flags in folders:
                if b"\\sent" in flags.lower().split():
                    return name
            names = {n.lower(): n for n, _f in folders}
            for wanted in SENT_NAMES:
                if wanted.lower() in names:
                    return names[wanted.lower()]
            raise NoSentFolder("no folder is marked \\Sent or named like a Sent folder")

        self.folder = self.step("imap.folder", find, detail=lambda f: {"folder": f})
        return self.folder

    def _list(self) -> list[tuple[str, bytes]]:
        assert self.imap is not None
        typ, data = self.imap.list('""', "*")
        if typ != "OK":
            raise imaplib.IMAP4.error(f"LIST failed: {typ}")
        found = []
        for line in data:
            if not isinstance(line, bytes):
                continue
            m = _LIST.match(line)
            if m is None:
                continue
            raw = m.group("name").decode("ascii", "replace").strip()
            if raw.startswith('"') and raw.endswith('"'):
                raw = raw[1:-1].replace('\\"', '"').replace("\\\\", "\\")
            found.append((utf7.decode(raw), m.group("flags")))
        return found

    def already_filed(self, message_id: str) -> bool:
        """An earlier attempt may have filed it before a crash: SEARCH HEADER Message-ID."""
        assert self.imap is not None and self.folder is not None

        def search() -> bool:
            assert self.imap is not None
            typ, _ = self.imap.select(_quote(utf7.encode(self.folder or "")))
            if typ != "OK":
                raise imaplib.IMAP4.error("SELECT failed")
            typ, data = self.imap.search(None, "HEADER", "Message-ID", _quote(message_id))
            return typ == "OK" and bool(data and data[0] and data[0].split())

        return self.step("imap.search", search, detail=lambda found: {"found": found})

    def append(self, content: bytes, sent_at: float) -> None:
        def put() -> str:
            assert self.imap is not None and self.folder is not None
            typ, data = self.imap.append(_quote(utf7.encode(self.folder)), "(\\Seen)",
                                         imaplib.Time2Internaldate(sent_at), content)
            if typ != "OK":
                raise imaplib.IMAP4.error(f"APPEND refused: {data!r}")
            return str(typ)

        self.step("imap.append", put, detail=lambda _r: {"bytes": len(content)})

    def close(self) -> None:
        if self.imap is not None:
            imap, self.imap = self.imap, None
            if not (self.guard.expired or self.guard.stopped):
                with contextlib.suppress(Exception), self.guard.step():
                    imap.logout()
            with contextlib.suppress(OSError):
                imap.shutdown()
        self.guard.close()


def _refuse(why: str) -> str:
    raise imaplib.IMAP4.error(why)


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
