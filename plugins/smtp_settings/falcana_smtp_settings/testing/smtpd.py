"""A real SMTP server for tests: aiosmtpd on loopback, in the three modes, with AUTH.

Faults are injected through the real server (a reply per command, a dropped connection
during DATA); a server that never answers is a plain listening socket
(``falcana_core.testing.net.SilentServer``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import email
import email.policy
import ssl
import threading
from collections.abc import Callable
from email.message import EmailMessage
from typing import Any, Literal

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from falcana_core.testing.net import free_port

Mode = Literal["normal", "starttls", "ssl"]


@dataclasses.dataclass
class Received:
    """One message as the server received it."""

    mail_from: str
    rcpt_tos: list[str]
    content: bytes
    login: str | None
    mail_options: list[str]

    @property
    def message(self) -> EmailMessage:
        msg = email.message_from_bytes(self.content, policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        return msg


@dataclasses.dataclass
class Fault:
    command: str  # "auth", "mail", "rcpt", "data", "data_drop"
    reply: str
    times: int | None  # None: always
    match: Callable[[str], bool] | None = None


class _Handler:
    def __init__(self, server: SmtpTestServer) -> None:
        self.server = server

    def _fault(self, command: str, arg: str = "") -> Fault | None:
        with self.server.lock:
            for fault in self.server.faults:
                if fault.command != command or (fault.match and not fault.match(arg)):
                    continue
                if fault.times is not None:
                    if fault.times <= 0:
                        continue
                    fault.times -= 1
                return fault
        return None

    async def handle_MAIL(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, mail_options: list[str]) -> str:
        fault = self._fault("mail", address)
        if fault:
            return fault.reply
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 OK"

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        fault = self._fault("rcpt", address)
        if fault:
            return fault.reply
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        stall = self._fault("data_stall")
        if stall:
            await asyncio.sleep(float(stall.reply))
        drop = self._fault("data_drop")
        if drop:
            transport = server.transport
            assert isinstance(transport, asyncio.Transport)
            transport.abort()
            return "421 dropped"
        fault = self._fault("data")
        if fault:
            return fault.reply
        content = envelope.original_content or b""
        auth = session.auth_data
        login = auth.login.decode() if isinstance(auth, LoginPassword) else (
            str(auth) if auth is not None else None)
        with self.server.lock:
            self.server.messages.append(Received(
                str(envelope.mail_from), list(envelope.rcpt_tos), content, login,
                list(envelope.mail_options)))
        return "250 2.0.0 OK queued"


class SmtpTestServer:
    """aiosmtpd on 127.0.0.1 in ``normal``, ``starttls`` or ``ssl`` mode.

    ``users`` maps login to password for AUTH PLAIN/LOGIN; ``auth_reply`` is the reply
    to a failed login (a provider's exact 535 line, say). ``reply_delay`` holds back
    every reply (the last line of a multi-line one) that many seconds: a real provider's
    round trip, for throughput measurements.
    """

    def __init__(self, mode: Mode = "normal", *, users: dict[str, str] | None = None,
                 ssl_context: ssl.SSLContext | None = None, auth: bool = True,
                 auth_reply: str | None = None, host: str = "127.0.0.1",
                 port: int = 0, smtputf8: bool = True,
                 extra_auth: dict[str, Callable[..., Any]] | None = None,
                 reply_delay: float = 0.0) -> None:
        if mode != "normal" and ssl_context is None:
            raise ValueError(f"mode {mode} needs an ssl_context (see the test CA fixture)")
        self.mode = mode
        self.users = dict(users or {})
        self.auth_reply = auth_reply
        self.host = host
        self.messages: list[Received] = []
        self.logins: list[str] = []
        #: every AUTH with a login and password, accepted or not: what the server heard
        self.credentials_heard: list[tuple[str, str]] = []
        self.faults: list[Fault] = []
        self.lock = threading.Lock()
        self._ssl_context = ssl_context
        self._auth = auth
        self._smtputf8 = smtputf8
        self._port = port or free_port(host)
        self._controller: Controller | None = None
        #: more AUTH mechanisms, e.g. {"XOAUTH2": oauth_server.xoauth2_authenticator(...)}
        self.extra_auth: dict[str, Callable[..., Any]] = dict(extra_auth or {})
        self.reply_delay = reply_delay
        self.open_connections = 0
        self.peak_connections = 0  # the most connections open at once
        self.connections = 0  # every connection made (the start-up's own check included)

    @property
    def port(self) -> int:
        return self._port

    def fail(self, command: str, reply: str, *, times: int | None = None,
             match: Callable[[str], bool] | None = None) -> None:
        """Answer ``command`` (auth, mail, rcpt, data) with ``reply`` (``times`` times)."""
        with self.lock:
            self.faults.append(Fault(command, reply, times, match))

    def drop_during_data(self, *, times: int | None = 1) -> None:
        """Close the connection after the message was sent, before the reply to DATA."""
        with self.lock:
            self.faults.append(Fault("data_drop", "", times))

    def stall_during_data(self, seconds: float, *, times: int | None = 1) -> None:
        """Wait ``seconds`` before answering DATA (a server that stalls)."""
        with self.lock:
            self.faults.append(Fault("data_stall", str(seconds), times))

    def clear_faults(self) -> None:
        with self.lock:
            self.faults.clear()

    def _authenticate(self, server: SMTP, session: Session, envelope: Envelope,
                      mechanism: str, auth_data: Any) -> AuthResult:
        fault = _Handler(self)._fault("auth")
        if fault:
            return AuthResult(success=False, handled=False, message=fault.reply)
        if isinstance(auth_data, LoginPassword):
            login = auth_data.login.decode()
            with self.lock:
                self.credentials_heard.append((login, auth_data.password.decode()))
            if self.users.get(login) == auth_data.password.decode():
                with self.lock:
                    self.logins.append(login)
                return AuthResult(success=True, auth_data=auth_data)
        return AuthResult(success=False, handled=False,
                          message=self.auth_reply or "535 5.7.8 Authentication credentials invalid")

    def start(self) -> SmtpTestServer:
        kwargs: dict[str, Any] = {
            "enable_SMTPUTF8": self._smtputf8,
            "decode_data": False,
        }
        if self._auth:
            kwargs["authenticator"] = self._authenticate
            kwargs["auth_require_tls"] = self.mode == "starttls"
        if self.mode == "starttls":
            kwargs["tls_context"] = self._ssl_context
        handler = _Handler(self)
        for name, fn in self.extra_auth.items():
            setattr(handler, f"auth_{name}", fn)
        controller = _Controller(
            self, handler, hostname=self.host, port=self._port,
            ssl_context=self._ssl_context if self.mode == "ssl" else None,
            ready_timeout=10, **kwargs)
        controller.start()
        self._controller = controller
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> SmtpTestServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _SlowSMTP(SMTP):
    """Waits before each complete reply, as a server across a real network does; counts
    the connections open at once."""

    def __init__(self, server: SmtpTestServer, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._server = server
        self._delay = server.reply_delay

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        with self._server.lock:
            self._server.open_connections += 1
            self._server.connections += 1
            self._server.peak_connections = max(self._server.peak_connections,
                                                self._server.open_connections)
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        with self._server.lock:
            self._server.open_connections -= 1
        super().connection_lost(error)

    async def push(self, status: Any) -> None:
        line = status if isinstance(status, str) else status.decode("ascii", "replace")
        if line[3:4] != "-":  # the last line of a reply
            await asyncio.sleep(self._delay)
        await super().push(status)


class _Controller(Controller):
    def __init__(self, server: SmtpTestServer, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._server = server

    def factory(self) -> SMTP:
        return _SlowSMTP(self._server, self.handler, **self.SMTP_kwargs)
