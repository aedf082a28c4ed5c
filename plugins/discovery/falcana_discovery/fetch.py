"""HTTPS GET for autoconfig files, held to the rules of every outgoing connection: the
destination policy on the resolved address (connected to exactly that address), TLS
verified against the CA store, one deadline kept by the core's connection guard (the
socket is shut when it passes, the TLS handshake included), a size cap, and nothing but
the request line and Host header sent.

At most two redirects, each hop checked again: https only, to the port the fetch began
on (a redirect cannot choose a port: that made "Einstellungen ermitteln" a port scanner
of whatever network the policy allows), through the policy. What went wrong after a
redirect is told in one sentence, whatever the system said, so the answer tells nothing
about what listens there."""

from __future__ import annotations

import http.client
import ssl
import time
import urllib.parse
from pathlib import Path

from falcana_core.api.net import (
    ConnectionGuard,
    DestinationRefused,
    NetPolicy,
    connect,
    tls_context,
)

MAX_REDIRECTS = 2
MAX_BYTES = 256 * 1024


class FetchError(Exception):
    """The file could not be fetched; the message says why (no secret: there is none)."""


def get(url: str, *, policy: NetPolicy, deadline: float, ca_bundle: Path | None) -> bytes:
    first = urllib.parse.urlsplit(url)
    port = first.port or 443
    for hop in range(MAX_REDIRECTS + 1):
        parts = urllib.parse.urlsplit(url)
        if parts.scheme != "https" or not parts.hostname:
            raise FetchError("a redirect to a URL that is not https" if hop else
                             f"not an https URL: {url}")
        if hop and (parts.port or 443) != port:
            raise FetchError("a redirect to another port, not followed")
        try:
            status, location, body = _get_once(parts, policy, deadline, ca_bundle)
        except DestinationRefused:
            raise
        except http.client.HTTPException:  # its text is whatever the server sent
            raise FetchError("the redirect led to no usable answer" if hop
                             else "no HTTP answer") from None
        except (OSError, ssl.SSLError):
            if hop:  # the same words for a closed port, another service, a silent one
                raise FetchError("the redirect led to no usable answer") from None
            raise
        if status in (301, 302, 303, 307, 308) and location:
            url = urllib.parse.urljoin(url, location)
            continue
        if status != 200:
            raise FetchError(f"HTTP {status}")
        return body
    raise FetchError("too many redirects")


def _remaining(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise FetchError("the time ran out")
    return left


def _get_once(parts: urllib.parse.SplitResult, policy: NetPolicy, deadline: float,
              ca_bundle: Path | None) -> tuple[int, str | None, bytes]:
    host = parts.hostname or ""
    port = parts.port or 443
    infos = policy.resolve(host, port)
    # the deadline and SIGTERM are the guard's; what is read is capped here: http.client
    # caps the head (64 KiB a line, 100 lines), the loop below the body
    guard = ConnectionGuard(deadline, per_read=_remaining(deadline))
    conn: http.client.HTTPSConnection | None = None
    try:
        with guard.step():
            sock = connect(infos, _remaining(deadline))
            guard.watch(sock)
            sock.settimeout(_remaining(deadline))
            tls = tls_context(ca_bundle).wrap_socket(sock, server_hostname=host)
            guard.watch(tls)
            conn = http.client.HTTPSConnection(host, port, timeout=_remaining(deadline))
            conn.sock = tls
            path = parts.path or "/"
            conn.request("GET", path + (f"?{parts.query}" if parts.query else ""),
                         headers={"Accept": "application/xml, text/xml",
                                  "User-Agent": "falcana-mail-discovery"})
            response = conn.getresponse()
            body = b""
            while len(body) <= MAX_BYTES:
                chunk = response.read1(16 * 1024)
                if not chunk:
                    break
                body += chunk
        if len(body) > MAX_BYTES:
            raise FetchError("the answer is larger than an autoconfig file can be")
        return response.status, response.getheader("Location"), body
    finally:
        if conn is not None:
            conn.close()
        guard.close()
