"""Probing a candidate SMTP server: connect (through the destination policy), TLS verified
for the host name, EHLO, and does it offer AUTH? Then QUIT. Nothing else is sent."""

from __future__ import annotations

import contextlib
import smtplib
import ssl
import time
from pathlib import Path

from falcana_core.api.net import NetPolicy, connect, tls_context


def speaks_imap(host: str, port: int, *, policy: NetPolicy, deadline: float,
                ca_bundle: Path | None) -> bool:
    """True when ``host:port`` greets as an IMAP server over verified implicit TLS."""
    left = deadline - time.monotonic()
    if left <= 0:
        return False
    try:
        sock = connect(policy.resolve(host, port), left)
    except OSError:
        return False
    try:
        sock.settimeout(max(0.1, deadline - time.monotonic()))
        with tls_context(ca_bundle).wrap_socket(sock, server_hostname=host) as tls:
            greeting = tls.recv(512)
            with contextlib.suppress(OSError):
                tls.sendall(b"a LOGOUT\r\n")
            return greeting.startswith(b"* OK") or greeting.startswith(b"* PREAUTH")
    except (OSError, ssl.SSLError):
        return False
    finally:
        with contextlib.suppress(OSError):
            sock.close()


def offers_auth(host: str, port: int, security: str, *, policy: NetPolicy, deadline: float,
                ca_bundle: Path | None) -> bool:
    """True when ``host:port`` speaks SMTP over verified TLS and offers AUTH after it."""
    left = deadline - time.monotonic()
    if left <= 0:
        return False
    try:
        infos = policy.resolve(host, port)
        sock = connect(infos, left)
    except OSError:
        return False
    ctx = tls_context(ca_bundle)
    smtp = smtplib.SMTP(timeout=max(0.1, deadline - time.monotonic()))
    try:
        sock.settimeout(max(0.1, deadline - time.monotonic()))
        if security == "ssl":
            sock = ctx.wrap_socket(sock, server_hostname=host)
        smtp.sock = sock
        smtp._host = host  # type: ignore[attr-defined]  # SNI for starttls
        code, _msg = smtp.getreply()
        if code != 220:
            return False
        smtp.ehlo()
        if security == "tls":
            if not smtp.has_extn("starttls"):
                return False
            smtp.starttls(context=ctx)
            smtp.ehlo()
        found = smtp.has_extn("auth")
        with contextlib.suppress(OSError, smtplib.SMTPException):
            smtp.quit()
        return found
    except (OSError, ssl.SSLError, smtplib.SMTPException):
        return False
    finally:
        with contextlib.suppress(OSError):
            smtp.close()
        with contextlib.suppress(OSError):
            sock.close()
