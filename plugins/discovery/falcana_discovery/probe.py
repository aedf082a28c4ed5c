"""Probing a candidate server: connect (through the destination policy), TLS verified for
the host name, EHLO, and does it offer AUTH? Then QUIT. Nothing else is sent. Each probe
runs under the core's connection guard: the discovery's deadline shuts its socket, whatever
a server that trickles is sending, and SIGTERM does too."""

from __future__ import annotations

import contextlib
import smtplib
import ssl
import time
from pathlib import Path

from falcana_core.api.net import ConnectionGuard, NetPolicy, connect, tls_context


def speaks_imap(host: str, port: int, *, policy: NetPolicy, deadline: float,
                ca_bundle: Path | None) -> bool:
    """True when ``host:port`` greets as an IMAP server over verified implicit TLS."""
    if deadline - time.monotonic() <= 0:
        return False
    guard = ConnectionGuard(deadline, max_read=512)
    try:
        with guard.step():
            sock = connect(policy.resolve(host, port), guard.timeout())
            guard.watch(sock)
            with tls_context(ca_bundle).wrap_socket(sock, server_hostname=host) as tls:
                guard.watch(tls)
                greeting = tls.recv(512)
                with contextlib.suppress(OSError):
                    tls.sendall(b"a LOGOUT\r\n")
                return greeting.startswith(b"* OK") or greeting.startswith(b"* PREAUTH")
    except (OSError, ssl.SSLError):
        return False
    finally:
        guard.close()


def offers_auth(host: str, port: int, security: str, *, policy: NetPolicy, deadline: float,
                ca_bundle: Path | None) -> bool:
    """True when ``host:port`` speaks SMTP over verified TLS and offers AUTH after it."""
    if deadline - time.monotonic() <= 0:
        return False
    guard = ConnectionGuard(deadline, max_read=64 * 1024)  # a greeting and an EHLO
    ctx = tls_context(ca_bundle)
    smtp: smtplib.SMTP | None = None
    try:
        with guard.step():
            sock = connect(policy.resolve(host, port), guard.timeout())
            guard.watch(sock)
            if security == "ssl":
                sock = ctx.wrap_socket(sock, server_hostname=host)
                guard.watch(sock)
            smtp = smtplib.SMTP(timeout=guard.timeout())
            smtp.sock = sock
            smtp.file = guard.reader(sock)  # a flood ends early
            smtp._host = host  # type: ignore[attr-defined]  # SNI for starttls
            code, _msg = smtp.getreply()
            if code != 220:
                return False
            smtp.ehlo()
            if security == "tls":
                if not smtp.has_extn("starttls"):
                    return False
                smtp.starttls(context=ctx)
                if smtp.sock is not None:
                    guard.watch(smtp.sock)
                    smtp.file = guard.reader(smtp.sock)
                smtp.ehlo()
            found = smtp.has_extn("auth")
            with contextlib.suppress(OSError, smtplib.SMTPException):
                smtp.quit()
            return found
    except (OSError, ssl.SSLError, smtplib.SMTPException):
        return False
    finally:
        if smtp is not None:
            with contextlib.suppress(OSError):
                smtp.close()
        guard.close()
