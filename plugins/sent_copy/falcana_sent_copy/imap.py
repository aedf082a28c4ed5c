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
from collections.abc import Callable, Sequence
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

#: folder names mail programs use for sent mail, when the server marks none \Sent;
#: matched below the personal namespace too (``INBOX.Gesendet`` on Courier-style hosts)
SENT_NAMES = ("Gesendet", "Gesendete Objekte", "Gesendete Elemente", "Sent",
              "Sent Items", "Sent Messages")
#: what one session reads from the server at most: a LIST of thousands of folders fits
MAX_READ = 4 * 1024 * 1024
#: one line of a response (imaplib's own limit is a million bytes)
MAX_LINE = 64 * 1024
#: what one APPEND of several messages carries at most
MAX_APPEND = 8 * 1024 * 1024
_LIST = re.compile(rb'\((?P<flags>[^)]*)\) (?:"(?P<sep>[^"]*)"|NIL) (?P<name>.+)$')
#: line ends as imaplib's append makes them: CRLF
_LINE_ENDS = re.compile(rb"\r\n|\r(?!\n)|\n")
#: one namespace of a NAMESPACE answer (RFC 2342): ("prefix" "separator")
_NAMESPACE = re.compile(rb'\("((?:[^"\\]|\\.)*)" (?:"(?:[^"\\]|\\.)*"|NIL)')


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
        self._selected = False  # the folder, for SEARCH
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
            self._capabilities_after_login()
            folders = self._list()
            prefixes = self._personal_prefixes(folders)
            if self.settings.folder:
                for name, _sep, _flags in folders:
                    if self.settings.folder in (name, _below(name, prefixes)):
                        return name
            for name, _sep, flags in folders:
                if b"\\sent" in flags.lower().split():
                    return name
            names: dict[str, str] = {}
            for name, _sep, _flags in folders:  # a top-level name wins over one below
                names.setdefault(name.lower(), name)
            for name, _sep, _flags in folders:
                names.setdefault(_below(name, prefixes).lower(), name)
            for wanted in SENT_NAMES:
                if wanted.lower() in names:
                    return names[wanted.lower()]
            raise NoSentFolder("no folder is marked \\Sent or named like a Sent folder")

        self.folder = self.step("imap.folder", find, detail=lambda f: {"folder": f})
        return self.folder

    def _capabilities_after_login(self) -> None:
        """Servers tell more after login (Dovecot: NAMESPACE, MULTIAPPEND): ask again."""
        assert self.imap is not None
        typ, data = self.imap.capability()
        if typ == "OK" and data and isinstance(data[-1], bytes):
            self.imap.capabilities = tuple(data[-1].decode("ascii", "replace").upper().split())

    def _personal_prefixes(self, folders: list[tuple[str, str, bytes]]) -> tuple[str, ...]:
        """The personal namespace's prefixes (RFC 2342 NAMESPACE, ``INBOX.`` on Courier-
        style hosts); without NAMESPACE, ``INBOX`` and the separator the LIST showed."""
        assert self.imap is not None
        found: list[str] = []
        if "NAMESPACE" in self.imap.capabilities:
            typ, data = self.imap.namespace()
            answer = data[0] if typ == "OK" and data and isinstance(data[0], bytes) else b""
            personal = _first_group(answer)
            found = [utf7.decode(m.group(1).decode("ascii", "replace"))
                     for m in _NAMESPACE.finditer(personal)]
        found += [f"INBOX{sep}" for _name, sep, _flags in folders if sep]
        return tuple(dict.fromkeys(p for p in found if p))

    def _list(self) -> list[tuple[str, str, bytes]]:
        """(name, separator, flags) of every folder."""
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
            sep = (m.group("sep") or b"").decode("ascii", "replace")
            found.append((utf7.decode(raw), sep, m.group("flags")))
        return found

    def already_filed(self, message_id: str) -> bool:
        """An earlier attempt may have filed it before a crash: SEARCH HEADER Message-ID
        (the folder selected once per connection)."""
        assert self.imap is not None and self.folder is not None

        def search() -> bool:
            assert self.imap is not None
            if not self._selected:
                typ, _ = self.imap.select(_quote(utf7.encode(self.folder or "")))
                if typ != "OK":
                    raise imaplib.IMAP4.error("SELECT failed")
                self._selected = True
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

    def batches(self, sizes: Sequence[int]) -> list[int]:
        """How many of the messages (of these sizes, in order) each APPEND takes: many at
        once where the server offers MULTIAPPEND (RFC 3502), up to MAX_APPEND bytes."""
        assert self.imap is not None
        if "MULTIAPPEND" not in self.imap.capabilities:
            return [1] * len(sizes)
        out: list[int] = []
        total = MAX_APPEND + 1
        for size in sizes:
            if total + size > MAX_APPEND:
                out.append(0)
                total = 0
            out[-1] += 1
            total += size
        return out

    def append_many(self, items: Sequence[tuple[bytes, float]]) -> None:
        """Several messages by one APPEND (MULTIAPPEND: the server files all or none),
        with non-synchronising literals where it offers LITERAL+ (RFC 7888: one write,
        one answer), else each literal after the server's go-ahead."""
        if len(items) == 1:
            self.append(*items[0])
            return

        def put() -> str:
            assert self.imap is not None and self.folder is not None
            imap: Any = self.imap  # typeshed knows literal as str and xatom's args as str
            plus = b"+" if "LITERAL+" in imap.capabilities else b""
            parts = [(b"(\\Seen) " + imaplib.Time2Internaldate(at).encode("ascii"),
                      _LINE_ENDS.sub(b"\r\n", content)) for content, at in items]
            heads = [meta + b" {%d%s}" % (len(body), plus) for meta, body in parts]
            if plus:
                command = b" ".join(head + b"\r\n" + body
                                    for head, (_meta, body) in zip(heads, parts, strict=True))
            else:  # each literal is sent when the server asks for it, with the next head
                command = heads[0]
                imap.literal = _Literals([body + b" " + head for (_m, body), head in
                                          zip(parts, heads[1:], strict=False)]
                                         + [parts[-1][1]]).next
            typ, data = imap.xatom("APPEND", _quote(utf7.encode(self.folder)), command)
            if typ != "OK":
                raise imaplib.IMAP4.error(f"APPEND refused: {data!r}")
            return str(typ)

        self.step("imap.append", put, detail=lambda _r: {
            "messages": len(items), "bytes": sum(len(c) for c, _at in items)})

    def close(self) -> None:
        if self.imap is not None:
            imap, self.imap = self.imap, None
            self._selected = False
            if not (self.guard.expired or self.guard.stopped):
                with contextlib.suppress(Exception), self.guard.step():
                    imap.logout()
            with contextlib.suppress(OSError):
                imap.shutdown()
        self.guard.close()


class _Literals:
    """What follows each go-ahead (``+``) of the server: imaplib sends a literal from a
    bound method (as for AUTHENTICATE), one return value per go-ahead."""

    def __init__(self, parts: list[bytes]) -> None:
        self._parts = iter(parts)

    def next(self, _go_ahead: bytes) -> bytes:
        return next(self._parts, b"")


def _below(name: str, prefixes: tuple[str, ...]) -> str:
    """The name below the personal namespace: ``INBOX.Gesendet`` -> ``Gesendet``."""
    for prefix in prefixes:
        if name.startswith(prefix) and len(name) > len(prefix):
            return name[len(prefix):]
    return name


def _first_group(answer: bytes) -> bytes:
    """The first of NAMESPACE's three parts (personal): a parenthesised list, or NIL."""
    answer = answer.strip()
    if not answer.startswith(b"("):
        return b""
    depth, quoted, escaped = 0, False, False
    for i, ch in enumerate(answer):
        if quoted:
            if escaped:
                escaped = False
            elif ch == 0x5C:  # backslash
                escaped = True
            elif ch == 0x22:
                quoted = False
        elif ch == 0x22:
            quoted = True
        elif ch == 0x28:
            depth += 1
        elif ch == 0x29:
            depth -= 1
            if depth == 0:
                return answer[:i + 1]
    return b""


def _refuse(why: str) -> str:
    raise imaplib.IMAP4.error(why)


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
