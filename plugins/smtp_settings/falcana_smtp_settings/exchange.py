"""One SMTP session, step by step, each step recorded with its duration.

Both the "Test-e-mail senden" action and the transport use this, so the admin's diagnosis
and real delivery go through the same code. Step ids are those of ``falcana_core.delivery``.
smtplib's debug output is never switched on (it prints AUTH in base64).
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import functools
import smtplib
import socket
import ssl
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from falcana_core.api import (
    DeliveryFailure,
    FailureKind,
    Reply,
    SecretValue,
    Step,
    StepProblem,
    StepStatus,
    Text,
)
from falcana_core.api.net import (
    ConnectionGuard,
    DeadlineExceeded,
    DestinationRefused,
    NetPolicy,
    Stopped,
    connect,
)
from falcana_smtp_settings.settings import SmtpSettings
from falcana_smtp_settings.tls import PinMismatch, check_pin, client_context, session_info

T = TypeVar("T")

#: logs in for a sign-in method other than the password (the ``smtp_login`` hook)
LoginHook = Callable[["SmtpSession"], str | None]
#: adjusts the stored password right before AUTH (the ``smtp_password_for_auth`` hook)
PasswordHook = Callable[[SmtpSettings, str], str]

#: AUTH mechanisms we use with a password, most preferred first.
PASSWORD_MECHANISMS = ("PLAIN", "LOGIN")


class NotOffered(Exception):
    """The server's EHLO lacks something we need (STARTTLS, AUTH, SMTPUTF8)."""

    def __init__(self, what: str, offered: Sequence[str] = ()) -> None:
        super().__init__(f"{what} not offered by the server")
        self.what = what
        self.offered = list(offered)


class NoCredentials(Exception):
    """The server wants AUTH but no password is stored."""


#: a reply longer than this is not from a mail server we want to talk to
#: failures that a known server's name rules out as a typo: the network is at fault
_NETWORK = (FailureKind.DNS, FailureKind.REFUSED, FailureKind.TIMEOUT, FailureKind.UNREACHABLE)
MAX_REPLY_LINES = 100
MAX_REPLY_BYTES = 32 * 1024
MAX_LINE = 8192  # smtplib's own limit per line (smtplib._MAXLINE)


class BoundedSMTP(smtplib.SMTP):
    """smtplib caps each reply line (8 KiB) but not the number of lines: a server that
    answers "220-" forever would fill memory. This caps lines and bytes per reply."""

    def getreply(self) -> tuple[int, bytes]:
        if self.file is None:
            if self.sock is None:
                raise smtplib.SMTPServerDisconnected("not connected")
            self.file = self.sock.makefile("rb")
        lines: list[bytes] = []
        size = 0
        errcode = -1
        while True:
            try:
                line = self.file.readline(MAX_LINE + 1)
            except OSError as exc:
                self.close()
                raise smtplib.SMTPServerDisconnected(
                    "Connection unexpectedly closed: " + str(exc)) from None
            if not line:
                self.close()
                raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")
            size += len(line)
            if len(line) > MAX_LINE or size > MAX_REPLY_BYTES \
                    or len(lines) >= MAX_REPLY_LINES:
                self.close()
                raise ReplyTooLong(f"the reply exceeded {MAX_REPLY_LINES} lines or "
                                   f"{MAX_REPLY_BYTES} bytes")
            lines.append(line[4:].strip(b" \t\r\n"))
            code = line[:3]
            try:
                errcode = int(code)
            except ValueError:
                errcode = -1
                break
            if line[3:4] != b"-":
                break
        return errcode, b"\n".join(lines)


class ReplyTooLong(smtplib.SMTPServerDisconnected):
    pass


class NotSmtp(Exception):
    """Whatever answered did not greet like an SMTP server; its bytes are not shown."""


class StepFailed(Exception):
    """A step failed; ``failure`` says which and why (never a secret)."""

    def __init__(self, failure: DeliveryFailure, *, outcome_unknown: bool = False) -> None:
        super().__init__(f"step {failure.step} failed: {failure.kind} {failure.detail}")
        self.failure = failure
        self.outcome_unknown = outcome_unknown


@functools.cache
def ehlo_name() -> str:
    """This machine's name for EHLO, looked up once per process: smtplib asks the resolver
    (``socket.getfqdn()``) on every connection otherwise, which can stall on a slow DNS."""
    return socket.getfqdn()


class SmtpSession:
    def __init__(self, settings: SmtpSettings, *, ca_bundle: Path | None, timeout: float,
                 deadline: float | None = None, login_hook: LoginHook | None = None,
                 password_hook: PasswordHook | None = None,
                 local_hostname: str | None = None, policy: NetPolicy | None = None,
                 admin: bool = True,
                 known_server: Callable[[str], Text | None] | None = None) -> None:
        self.settings = settings
        #: who knows the server as a real mail server (a provider, the ISP database)
        self.known_server = known_server
        self.policy = policy or NetPolicy()
        self.admin = admin  # whose test this is: non-admins get the user ports only
        self.ca_bundle = ca_bundle
        self.timeout = timeout
        self.deadline = deadline  # time.monotonic() value, for a whole test mail
        self.login_hook = login_hook
        self.password_hook = password_hook
        self.local_hostname = local_hostname or ehlo_name()
        self.steps: list[Step] = []
        self.smtp: smtplib.SMTP | None = None
        self.tls: dict[str, Any] = {}
        self.auth_mechanism: str | None = None
        self.sasl: str | None = None  # a mechanism a sign-in plugin is trying (XOAUTH2)
        self.extensions: dict[str, str] = {}
        #: the core's gate for this connection: the deadline (the socket is shut when it
        #: passes, whatever is being read), SIGTERM; replies are capped by BoundedSMTP
        self.guard = ConnectionGuard(deadline, per_read=timeout)

    # -- steps -------------------------------------------------------------------------

    def _timeout(self) -> float:
        return self.guard.timeout()

    def step(self, step_id: str, fn: Callable[[], T],
             detail: Callable[[T], dict[str, Any]] | None = None,
             reply: Callable[[T], Reply | None] | None = None) -> T:
        started = time.perf_counter()
        self.guard.deadline = self.deadline  # a kept connection gets each message's
        try:
            with self.guard.step():
                result = fn()
        except Exception as exc:
            failure = self.classify(step_id, exc)
            self.steps.append(Step(step_id, StepStatus.FAILED,
                                   (time.perf_counter() - started) * 1000, failure.reply,
                                   {"error": failure.detail}))
            unknown = step_id == "data" and failure.kind in {
                FailureKind.CLOSED, FailureKind.TIMEOUT}
            if failure.kind is FailureKind.REPLY and step_id in {"mail_from", "rcpt_to",
                                                                  "data"}:
                self._reset()  # a refused message leaves the connection usable
            else:
                self.abort()
            raise StepFailed(failure, outcome_unknown=unknown) from None
        self.steps.append(Step(step_id, StepStatus.OK, (time.perf_counter() - started) * 1000,
                               reply(result) if reply else None,
                               detail(result) if detail else {}))
        return result

    def stop(self) -> None:
        """The process is stopping: shut the connection now (safe in a signal handler)."""
        self.guard.stop()

    def skip(self, step_id: str, why: str) -> None:
        self.steps.append(Step(step_id, StepStatus.SKIPPED, 0.0, None, {"why": why}))

    def classify(self, step_id: str, exc: BaseException) -> DeliveryFailure:
        """What went wrong, in terms explanations match on (``data["auth"]`` names the
        mechanism a sign-in plugin tried, e.g. XOAUTH2)."""
        failure = self._classify(step_id, exc)
        if self.sasl:
            failure = dataclasses.replace(failure, data={**failure.data, "auth": self.sasl})
        if failure.kind in _NETWORK and step_id in ("resolve", "connect") and \
                self.known_server is not None and not failure.data.get("deadline"):
            who = self.known_server(self.settings.host)
            if who is not None:  # the name is right: the network is what fails
                failure = dataclasses.replace(failure, data={**failure.data,
                                                             "known_server": who})
        return failure

    def _classify(self, step_id: str, exc: BaseException) -> DeliveryFailure:
        s = self.settings
        base: dict[str, Any] = {"step": step_id, "host": s.host, "port": s.port,
                                "security": s.security, "address": s.address,
                                "username": s.username, "provider": s.provider}

        if isinstance(exc, smtplib.SMTPResponseException):
            reply = Reply.parse(exc.smtp_code, exc.smtp_error)
            return DeliveryFailure(kind=FailureKind.REPLY, reply=reply, detail=str(reply),
                                   **base)
        if isinstance(exc, smtplib.SMTPRecipientsRefused):
            code, msg = next(iter(exc.recipients.values()))
            reply = Reply.parse(code, msg)
            return DeliveryFailure(kind=FailureKind.REPLY, reply=reply, detail=str(reply),
                                   data={"recipients": list(exc.recipients)}, **base)
        if isinstance(exc, StepProblem):
            return DeliveryFailure(kind=exc.kind, detail=exc.detail, data=exc.data, **base)
        if isinstance(exc, DestinationRefused):
            return DeliveryFailure(kind=FailureKind.POLICY, detail=str(exc),
                                   data={"policy": exc.reason}, **base)
        if isinstance(exc, NotSmtp):
            return DeliveryFailure(kind=FailureKind.NOT_SMTP, detail=str(exc), **base)
        if isinstance(exc, ReplyTooLong):
            return DeliveryFailure(kind=FailureKind.NOT_SMTP, detail=str(exc),
                                   data={"too_long": True}, **base)
        if isinstance(exc, PinMismatch):
            return DeliveryFailure(kind=FailureKind.PIN_MISMATCH, detail=str(exc),
                                   data={"expected": exc.expected, "sha256": exc.got}, **base)
        if isinstance(exc, NotOffered):
            return DeliveryFailure(kind=FailureKind.NOT_OFFERED, detail=str(exc),
                                   data={"what": exc.what, "offered": exc.offered}, **base)
        if isinstance(exc, NoCredentials):
            return DeliveryFailure(kind=FailureKind.NO_CREDENTIALS, detail=str(exc), **base)
        if isinstance(exc, Stopped):
            return DeliveryFailure(kind=FailureKind.CLOSED, detail=str(exc),
                                   data={"stopped": True}, **base)
        if isinstance(exc, DeadlineExceeded):
            return DeliveryFailure(kind=FailureKind.TIMEOUT, detail=str(exc),
                                   data={"deadline": True}, **base)
        if isinstance(exc, ssl.SSLCertVerificationError):
            return DeliveryFailure(kind=FailureKind.TLS_VERIFY,
                                   detail=str(exc.verify_message or exc.reason),
                                   data={"verify_code": exc.verify_code,
                                         "verify_message": exc.verify_message}, **base)
        if isinstance(exc, ssl.SSLError):
            return DeliveryFailure(kind=FailureKind.TLS_PROTOCOL,
                                   detail=str(exc.reason or exc.__class__.__name__),
                                   data={"reason": exc.reason}, **base)
        if isinstance(exc, socket.gaierror):
            return DeliveryFailure(kind=FailureKind.DNS, detail=exc.strerror or str(exc),
                                   **base)
        if isinstance(exc, smtplib.SMTPServerDisconnected) and "timed out" in str(exc):
            # smtplib turns a read time-out into "Connection unexpectedly closed: timed out"
            return DeliveryFailure(kind=FailureKind.TIMEOUT, detail="timed out", **base)
        if isinstance(exc, TimeoutError | socket.timeout):
            return DeliveryFailure(kind=FailureKind.TIMEOUT, detail="timed out", **base)
        if isinstance(exc, ConnectionRefusedError):
            return DeliveryFailure(kind=FailureKind.REFUSED, detail="connection refused",
                                   **base)
        if isinstance(exc, smtplib.SMTPServerDisconnected | ConnectionResetError |
                      BrokenPipeError | ConnectionAbortedError | EOFError):
            return DeliveryFailure(kind=FailureKind.CLOSED,
                                   detail="the server closed the connection", **base)
        if isinstance(exc, OSError):
            return DeliveryFailure(kind=FailureKind.UNREACHABLE,
                                   detail=exc.strerror or exc.__class__.__name__, **base)
        return DeliveryFailure(kind=FailureKind.OTHER, detail=exc.__class__.__name__, **base)

    # -- the exchange ------------------------------------------------------------------

    def open(self) -> None:
        """resolve, connect, tls, greeting, ehlo, starttls, ehlo_tls, auth."""
        s = self.settings
        infos = self.step("resolve", lambda: self.policy.resolve(s.host, s.port,
                                                                 admin=self.admin),
                          detail=lambda r: {"addresses": sorted({str(i[4][0]) for i in r})})
        sock = self.step("connect", lambda: self._connect(infos),
                         detail=lambda r: {"address": str(r.getpeername()[0])})
        smtp = BoundedSMTP(local_hostname=self.local_hostname, timeout=self.timeout)
        smtp._host = s.host  # type: ignore[attr-defined]  # used by starttls for SNI
        self.smtp = smtp
        if s.security == "ssl":
            ctx = client_context(self.ca_bundle, s.pin)
            tls_sock = self.step("tls", lambda: self._wrap(ctx, sock),
                                 detail=lambda r: session_info(r))
            self.tls = self.steps[-1].detail
            smtp.sock = tls_sock
        else:
            smtp.sock = sock
        self.step("greeting", self._greeting, reply=_reply)
        self.step("ehlo", self._ehlo, reply=_reply, detail=lambda _: self._features())
        if s.security == "tls":
            self.step("starttls", self._starttls, reply=_reply,
                      detail=lambda _: session_info(self._tls_sock()))
            self.tls = self.steps[-1].detail
            self.step("ehlo_tls", self._ehlo, reply=_reply, detail=lambda _: self._features())
        self._auth()

    def _connect(self, infos: list[Any]) -> socket.socket:
        """Only the addresses the policy passed: no second look-up to be rebound."""
        sock = connect(infos, self._timeout())
        self.guard.watch(sock)
        return sock

    def _wrap(self, ctx: ssl.SSLContext, sock: socket.socket) -> ssl.SSLSocket:
        try:
            tls = ctx.wrap_socket(sock, server_hostname=self.settings.host)
        except BaseException:
            sock.close()
            raise
        self.guard.watch(tls)  # the wrapped socket owns the connection now
        try:
            check_pin(tls, self.settings.pin)
        except PinMismatch:
            tls.close()  # nothing was sent on this connection
            raise
        return tls

    def _greeting(self) -> tuple[int, bytes]:
        assert self.smtp is not None
        code, msg = self.smtp.getreply()
        if 400 <= code < 600 and _is_text(msg):
            raise smtplib.SMTPConnectError(code, msg)  # an SMTP server that refuses
        if code != 220:  # another service (a database, a cache): say so, show nothing
            raise NotSmtp("no SMTP server answered on this port")
        return code, msg

    def _ehlo(self) -> tuple[int, bytes]:
        assert self.smtp is not None
        code, msg = self.smtp.ehlo()
        if code != 250:
            code, msg = self.smtp.helo()
            if code != 250:
                raise smtplib.SMTPHeloError(code, msg)
        self.extensions = dict(self.smtp.esmtp_features)
        return code, msg

    def _features(self) -> dict[str, Any]:
        return {"extensions": sorted(k.upper() for k in self.extensions)}

    def _starttls(self) -> tuple[int, bytes]:
        assert self.smtp is not None
        if not self.smtp.has_extn("starttls"):
            raise NotOffered("STARTTLS", sorted(k.upper() for k in self.extensions))
        ctx = client_context(self.ca_bundle, self.settings.pin)
        code, msg = self.smtp.starttls(context=ctx)
        self.guard.watch(self._tls_sock())  # the wrapped socket owns the connection now
        check_pin(self._tls_sock(), self.settings.pin)  # before another word is sent
        return code, msg

    def _tls_sock(self) -> ssl.SSLSocket:
        assert self.smtp is not None and isinstance(self.smtp.sock, ssl.SSLSocket)
        return self.smtp.sock

    def _auth(self) -> None:
        s = self.settings
        if s.auth_method != "password":
            self._plugin_login()
            return
        if s.password is None:
            self.skip("auth", "no password stored")
            return
        self.auth_mechanism = self.step("auth", self._password_login,
                                        detail=lambda m: {"mechanism": m})

    def _plugin_login(self) -> None:
        """A sign-in method a plugin offered (OAuth2): the plugin logs in."""
        used = self.login_hook(self) if self.login_hook is not None else None
        if used is None:
            def nobody() -> str:
                raise NoCredentials(f"no enabled plugin signs in with "
                                    f"{self.settings.auth_method}")

            self.step("auth", nobody)

    def xoauth2(self, account: str, token: SecretValue) -> str:
        """SASL XOAUTH2 (Google's and Microsoft's OAuth2 for SMTP) as the ``auth`` step."""
        smtp = self.smtp
        assert smtp is not None
        self.sasl = "XOAUTH2"

        def login() -> str:
            if not smtp.has_extn("auth") or "XOAUTH2" not in smtp.esmtp_features.get(
                    "auth", "").upper().split():
                raise NotOffered("AUTH XOAUTH2", sorted(k.upper() for k in self.extensions))
            raw = f"user={account}\x01auth=Bearer {token.reveal()}\x01\x01"
            code, msg = smtp.docmd("AUTH", "XOAUTH2 " + _b64(raw))
            if code == 334:  # an error challenge (JSON): answer empty to get the reply
                code, msg = smtp.docmd("")
            if code not in (235, 503):
                raise smtplib.SMTPAuthenticationError(code, msg)
            return "XOAUTH2"

        self.auth_mechanism = self.step("auth", login, detail=lambda m: {"mechanism": m})
        return self.auth_mechanism

    def _password_login(self) -> str:
        smtp = self.smtp
        assert smtp is not None
        s = self.settings
        if s.password is None:
            raise NoCredentials("no password stored")
        if not smtp.has_extn("auth"):
            raise NotOffered("AUTH", sorted(k.upper() for k in self.extensions))
        offered = smtp.esmtp_features.get("auth", "").upper().split()
        mechanism = next((m for m in PASSWORD_MECHANISMS if m in offered), None)
        if mechanism is None:
            raise NotOffered("AUTH PLAIN/LOGIN", offered)
        password = s.password.reveal()
        if self.password_hook is not None:
            password = self.password_hook(s, password)
        user = s.username or s.address
        # smtplib encodes AUTH as ASCII; SASL wants UTF-8 (umlauts in passwords, IDN logins)
        code, msg = (_auth_plain if mechanism == "PLAIN" else _auth_login)(smtp, user, password)
        del password
        if code not in (235, 503):
            raise smtplib.SMTPAuthenticationError(code, msg)
        return mechanism

    def send(self, content: bytes, sender: str, recipients: Sequence[str],
             mail_options: Sequence[str] = ()) -> dict[str, str]:
        """mail_from, rcpt_to, data. Returns refused recipients with the server's reply."""
        smtp = self.smtp
        assert smtp is not None
        options = list(mail_options)
        if smtp.has_extn("size"):
            options.append(f"SIZE={len(content)}")

        def mail() -> tuple[int, bytes]:
            code, msg = smtp.mail(sender, options)
            if code != 250:
                raise smtplib.SMTPSenderRefused(code, msg, sender)
            return code, msg

        self.step("mail_from", mail, reply=_reply)
        refused: dict[str, tuple[int, bytes]] = {}

        def rcpt() -> tuple[int, bytes]:
            last: tuple[int, bytes] = (0, b"")
            for rcpt_addr in recipients:
                code, msg = smtp.rcpt(rcpt_addr)
                if code not in (250, 251):
                    refused[rcpt_addr] = (code, msg)
                last = (code, msg)
            if len(refused) == len(recipients):
                raise smtplib.SMTPRecipientsRefused(dict(refused))
            return last

        self.step("rcpt_to", rcpt, reply=_reply,
                  detail=lambda _: {"refused": {a: str(Reply.parse(*r))
                                                for a, r in refused.items()}}
                  if refused else {})

        def data() -> tuple[int, bytes]:
            code, msg = smtp.data(content)
            if code != 250:
                raise smtplib.SMTPDataError(code, msg)
            return code, msg

        self.step("data", data, reply=_reply)
        return {a: str(Reply.parse(*r)) for a, r in refused.items()}

    def quit(self) -> None:
        if self.smtp is None:
            return
        smtp = self.smtp
        try:
            self.step("quit", smtp.quit, reply=_reply)
        except StepFailed:
            pass  # the message is out; a failed QUIT changes nothing
        finally:
            self.abort()

    def _reset(self) -> None:
        try:
            assert self.smtp is not None
            code, _msg = self.smtp.rset()
            if code != 250:
                self.abort()
        except (OSError, smtplib.SMTPException):
            self.abort()

    def abort(self) -> None:
        """Close without QUIT."""
        if self.smtp is not None:
            with contextlib.suppress(OSError):
                self.smtp.close()
            self.smtp = None
        self.guard.close()

    @property
    def alive(self) -> bool:
        return self.smtp is not None and self.smtp.sock is not None


def _is_text(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def _auth_plain(smtp: smtplib.SMTP, user: str, password: str) -> tuple[int, bytes]:
    return smtp.docmd("AUTH", "PLAIN " + _b64(f"\0{user}\0{password}"))


def _auth_login(smtp: smtplib.SMTP, user: str, password: str) -> tuple[int, bytes]:
    code, msg = smtp.docmd("AUTH", "LOGIN " + _b64(user))
    if code == 334:
        code, msg = smtp.docmd(_b64(password))
    return code, msg


def _reply(result: tuple[int, bytes]) -> Reply:
    return Reply.parse(result[0], result[1])
