"""HTTPS to mail APIs is held to the SMTP rules: the destination policy on the resolved
address, verified TLS, no redirect followed, an absolute deadline against a server that
trickles, and a bounded answer. Real TLS servers on loopback, as hostile as they come."""

from __future__ import annotations

import contextlib
import socket
import socketserver
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme

from falcana_core.delivery import FailureKind
from falcana_core.net.http import HttpFailure, PolicyHttp
from falcana_core.net.policy import NetPolicy

LOOPBACK = NetPolicy.parse("loopback")


class Handler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        server: Any = self.server
        with server.context.wrap_socket(self.request, server_side=True) as tls:
            data = b""
            with contextlib.suppress(OSError):
                while b"\r\n\r\n" not in data:
                    chunk = tls.recv(65536)
                    if not chunk:
                        return
                    data += chunk
                head, _sep, body = data.partition(b"\r\n\r\n")
                length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                while len(body) < length:  # read it all: unread data would reset
                    body += tls.recv(65536)
                server.seen.append(head.split(b"\r\n", 1)[0])
                server.answer(tls)


@pytest.fixture
def https_server(server_ssl_context: ssl.SSLContext
                 ) -> Iterator[Callable[[Callable[[ssl.SSLSocket], None]], str]]:
    started: list[socketserver.ThreadingTCPServer] = []

    def start(answer: Callable[[ssl.SSLSocket], None],
              context: ssl.SSLContext | None = None) -> Any:
        server: Any = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        server.context = context or server_ssl_context
        server.answer = answer
        server.seen = []
        threading.Thread(target=server.serve_forever, daemon=True).start()
        started.append(server)
        server.url = f"https://127.0.0.1:{server.server_address[1]}"
        return server

    yield start
    for server in started:
        server.shutdown()
        server.server_close()


def ok(tls: ssl.SSLSocket) -> None:
    tls.sendall(b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\nrequest-id: r-1\r\n\r\n")


def post(http: PolicyHttp, url: str, seconds: float = 5.0) -> Any:
    return http.post(url, data=b"x", headers={"Authorization": "Bearer secret-token"},
                     deadline=time.monotonic() + seconds)


def test_an_allowed_server_answers(https_server: Any, test_ca_bundle: Path) -> None:
    server = https_server(ok)
    answer = post(PolicyHttp(LOOPBACK, ca_bundle=test_ca_bundle), server.url + "/send")
    assert answer.status == 202 and answer.headers["request-id"] == "r-1"
    assert server.seen == [b"POST /send HTTP/1.1"]


def test_an_internal_address_is_refused_before_connecting(https_server: Any,
                                                          test_ca_bundle: Path) -> None:
    server = https_server(ok)
    with pytest.raises(HttpFailure) as caught:
        post(PolicyHttp(NetPolicy.parse(""), ca_bundle=test_ca_bundle), server.url)
    assert caught.value.kind is FailureKind.POLICY and not caught.value.sent
    assert server.seen == []


def test_plain_http_never_carries_a_token(test_ca_bundle: Path) -> None:
    with pytest.raises(HttpFailure) as caught:
        post(PolicyHttp(LOOPBACK, ca_bundle=test_ca_bundle), "http://127.0.0.1:9/send")
    assert caught.value.kind is FailureKind.POLICY


def test_a_certificate_from_an_unknown_ca_is_refused(https_server: Any,
                                                     test_ca_bundle: Path) -> None:
    stranger = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    trustme.CA().issue_cert("127.0.0.1").configure_cert(stranger)
    server = https_server(ok, stranger)
    with pytest.raises(HttpFailure) as caught:
        post(PolicyHttp(LOOPBACK, ca_bundle=test_ca_bundle), server.url)
    assert caught.value.kind is FailureKind.TLS_VERIFY
    assert server.seen == []  # the request (and its token) never went out


def test_a_redirect_is_not_followed(https_server: Any, test_ca_bundle: Path) -> None:
    def redirect(tls: ssl.SSLSocket) -> None:
        tls.sendall(b"HTTP/1.1 307 Temporary Redirect\r\nLocation: https://127.0.0.1:1/x"
                    b"\r\nContent-Length: 0\r\n\r\n")

    server = https_server(redirect)
    answer = post(PolicyHttp(LOOPBACK, ca_bundle=test_ca_bundle), server.url)
    assert answer.status == 307 and len(server.seen) == 1


def test_a_server_that_trickles_is_cut_off_at_the_deadline(https_server: Any,
                                                           test_ca_bundle: Path) -> None:
    def trickle(tls: ssl.SSLSocket) -> None:
        with contextlib.suppress(OSError):
            for byte in b"HTTP/1.1 202 Accepted\r\nX-Slow: " + b"a" * 10_000:
                tls.sendall(bytes([byte]))
                time.sleep(0.05)  # each byte well within any read time-out

    server = https_server(trickle)
    started = time.monotonic()
    with pytest.raises(HttpFailure) as caught:
        post(PolicyHttp(LOOPBACK, ca_bundle=test_ca_bundle, timeout=5), server.url, 1.5)
    assert caught.value.kind is FailureKind.TIMEOUT
    assert time.monotonic() - started < 4
    assert caught.value.sent  # the request went out: the server may have acted on it


def test_an_endless_answer_is_read_only_so_far(https_server: Any,
                                               test_ca_bundle: Path) -> None:
    def endless(tls: ssl.SSLSocket) -> None:
        with contextlib.suppress(OSError):
            tls.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 50000000\r\n\r\n")
            for _ in range(50):
                tls.sendall(b"{" * 1_000_000)

    server = https_server(endless)
    with pytest.raises(HttpFailure) as caught:
        post(PolicyHttp(LOOPBACK, ca_bundle=test_ca_bundle, max_answer=64_000), server.url)
    assert "larger than 64000" in caught.value.detail


def test_a_closed_port_is_refused(test_ca_bundle: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(HttpFailure) as caught:
        post(PolicyHttp(LOOPBACK, ca_bundle=test_ca_bundle), f"https://127.0.0.1:{port}")
    assert caught.value.kind is FailureKind.REFUSED and not caught.value.sent


def test_an_answer_broken_off_in_its_body_is_a_failure_of_the_step(
        https_server: Any, test_ca_bundle: Path) -> None:
    """urllib3 reports it in its own exception: it must come out as HttpFailure (a step
    that failed, explained), never as a crash of the test e-mail."""
    def broken(tls: ssl.SSLSocket) -> None:
        tls.sendall(b"HTTP/1.1 202 Accepted\r\nContent-Length: 1000\r\n\r\n{\"half\":")

    server = https_server(broken)
    with pytest.raises(HttpFailure) as caught:
        post(PolicyHttp(LOOPBACK, ca_bundle=test_ca_bundle), server.url)
    assert caught.value.sent


def test_the_trust_store_is_loaded_once_per_bundle_and_again_when_the_bundle_changes(
        tmp_path: Path) -> None:
    """Loading the system store costs ~25 ms a connection: it is built once; a corporate
    CA added to FALCANA_CA_BUNDLE counts from the next connection on."""
    from falcana_core.net.policy import tls_context

    first, second = trustme.CA(organization_name="Erste"), trustme.CA(organization_name="Zweite")
    bundle = tmp_path / "ca.pem"
    first.cert_pem.write_to_path(str(bundle))
    ctx = tls_context(bundle)
    assert tls_context(bundle) is ctx and tls_context(None) is tls_context(None)
    assert ctx.verify_mode is ssl.CERT_REQUIRED and ctx.check_hostname

    def organisations(context: ssl.SSLContext) -> set[str]:
        return {value for cert in context.get_ca_certs() for rdn in cert["subject"]
                for key, value in rdn if key == "organizationName"}

    assert "Erste" in organisations(ctx)
    bundle.write_bytes(first.cert_pem.bytes() + second.cert_pem.bytes())
    changed = tls_context(bundle)
    assert changed is not ctx and {"Erste", "Zweite"} <= organisations(changed)
