"""HTTPS GET for autoconfig files, held to the rules of every outgoing connection: the
destination policy on the resolved address (connected to exactly that address), TLS
verified against the CA store, one deadline, a size cap, at most two redirects, and
nothing but the request line and Host header sent."""

from __future__ import annotations

import http.client
import ssl
import time
import urllib.parse
from pathlib import Path

from falcana_core.api.net import NetPolicy, connect, tls_context

MAX_REDIRECTS = 2
MAX_BYTES = 256 * 1024


class FetchError(Exception):
    """The file could not be fetched; the message says why (no secret: there is none)."""


def get(url: str, *, policy: NetPolicy, deadline: float, ca_bundle: Path | None) -> bytes:
    for _ in range(MAX_REDIRECTS + 1):
        parts = urllib.parse.urlsplit(url)
        if parts.scheme != "https" or not parts.hostname:
            raise FetchError(f"not an https URL: {url}")
        status, location, body = _get_once(parts, policy, deadline, ca_bundle)
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
    sock = connect(infos, _remaining(deadline))
    try:
        sock.settimeout(_remaining(deadline))
        tls = tls_context(ca_bundle).wrap_socket(sock, server_hostname=host)
    except (OSError, ssl.SSLError):
        sock.close()
        raise
    conn = http.client.HTTPSConnection(host, port, timeout=_remaining(deadline))
    conn.sock = tls
    try:
        path = parts.path or "/"
        conn.request("GET", path + (f"?{parts.query}" if parts.query else ""),
                     headers={"Accept": "application/xml, text/xml",
                              "User-Agent": "falcana-mail-discovery"})
        response = conn.getresponse()
        body = b""
        while len(body) <= MAX_BYTES:
            tls.settimeout(_remaining(deadline))
            chunk = response.read1(16 * 1024)  # one read: a trickle cannot outlast the deadline
            if not chunk:
                break
            body += chunk
        if len(body) > MAX_BYTES:
            raise FetchError("the answer is larger than an autoconfig file can be")
        return response.status, response.getheader("Location"), body
    finally:
        conn.close()
