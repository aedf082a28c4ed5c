"""HTTPS to mail APIs under the destination policy, bounded in time and size.

A mail API (Microsoft Graph, the Gmail API) receives a bearer token, so it is held to the
same rules as an SMTP server: requests (not hand-written HTTP), with every connection
made to the addresses ``NetPolicy.resolve`` allowed (a DNS answer that changes between
check and connect gains nothing), TLS verified against the system store plus
``FALCANA_CA_BUNDLE``, no proxies from the environment, no redirects (a token never
follows one), an absolute deadline per request at which the socket is shut (a server
that trickles never trips a read time-out), and at most ``max_answer`` bytes of an
answer read.
"""

from __future__ import annotations

import contextlib
import dataclasses
import socket
import ssl
import threading
import time
import weakref
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from falcana_core.delivery import FailureKind
from falcana_core.net.policy import DestinationRefused, NetPolicy, connect, tls_context
from falcana_core.net.watchdog import watchdog

if TYPE_CHECKING:
    from pathlib import Path

    import requests

S = TypeVar("S", bound="requests.Session")
MAX_ANSWER = 1 << 20  # an API's answer to a send is a few hundred bytes


@dataclasses.dataclass(frozen=True)
class HttpAnswer:
    status: int
    headers: Mapping[str, str]  # case-insensitive (requests' CaseInsensitiveDict)
    body: bytes


class HttpFailure(Exception):
    """A request that got no complete answer; ``kind`` as for SMTP (dns, refused, ...)."""

    def __init__(self, kind: FailureKind, detail: str, *, sent: bool = False) -> None:
        super().__init__(f"{kind.value}: {detail}")
        self.kind = kind
        self.detail = detail
        #: the request went out before it broke: the server may have acted on it
        self.sent = sent


class PolicyHttp:
    """A requests session for one API connection, reused across its messages
    (keep-alive). ``abort()`` shuts its sockets from any thread (a stopping worker)."""

    def __init__(self, policy: NetPolicy, *, ca_bundle: Path | None = None,
                 timeout: float = 30.0, admin: bool = True,
                 max_answer: int = MAX_ANSWER) -> None:
        import requests

        self.policy = policy
        self.timeout = timeout
        self.admin = admin
        self.max_answer = max_answer
        self._live: weakref.WeakSet[Any] = weakref.WeakSet()
        self._lock = threading.Lock()
        self.session = requests.Session()
        self.session.trust_env = False  # no proxy or .netrc from the environment
        self.session.mount("https://", _adapter(self, tls_context(ca_bundle)))
        self.session.mount("http://", _Refused())

    def post(self, url: str, *, data: bytes, headers: Mapping[str, str],
             deadline: float) -> HttpAnswer:
        """POST and read the answer, all before ``deadline`` (``time.monotonic()``)."""
        return self.request("POST", url, data=data, headers=headers, deadline=deadline)

    def get(self, url: str, *, headers: Mapping[str, str], deadline: float) -> HttpAnswer:
        """GET and read the answer (at most ``max_answer`` bytes), before ``deadline``."""
        return self.request("GET", url, data=None, headers=headers, deadline=deadline)

    def request(self, method: str, url: str, *, data: bytes | None,
                headers: Mapping[str, str], deadline: float) -> HttpAnswer:
        import requests
        import urllib3

        left = deadline - time.monotonic()
        sent = False
        with self.within(deadline) as expired:
            try:
                response = self.session.request(
                    method, url, data=data, headers=dict(headers),
                    timeout=(min(self.timeout, left), self.timeout),
                    allow_redirects=False, stream=True)
                sent = True
                with response:
                    body = response.raw.read(self.max_answer + 1, decode_content=True) or b""
                if expired.is_set():  # the answer may look complete once its socket is shut
                    raise HttpFailure(FailureKind.TIMEOUT, "deadline reached", sent=True)
                if len(body) > self.max_answer:
                    raise HttpFailure(FailureKind.OTHER, f"answer larger than "
                                      f"{self.max_answer} bytes", sent=True)
                return HttpAnswer(response.status_code, response.headers, body)
            except (requests.RequestException, urllib3.exceptions.HTTPError, OSError,
                    ValueError) as exc:  # urllib3's own: a body broken off while it is read
                # a request whose body went out may have been acted on (as after SMTP DATA)
                raise HttpFailure(*classify(exc), sent=sent or _body_sent(exc)) from None

    def attach(self, session: S) -> S:
        """Put another library's requests session behind this gate (an OAuth client's:
        authlib's ``OAuth2Session`` is one): its connections go where the destination
        policy allows, verified against the one trust store, with no proxy or .netrc from
        the environment, no redirect followed and at most ``max_answer`` bytes of an
        answer read. Run its requests inside ``within(deadline)``."""
        session.trust_env = False
        session.max_redirects = 0  # a redirect fails; it is never followed
        session.mount("https://", self.session.get_adapter("https://"))
        session.mount("http://", _Refused())
        session.hooks.setdefault("response", []).append(self._capped)
        return session

    def _capped(self, response: Any, **_kwargs: Any) -> Any:
        body = response.raw.read(self.max_answer + 1, decode_content=True) or b""
        if len(body) > self.max_answer:
            response.close()
            raise HttpFailure(FailureKind.OTHER, f"answer larger than {self.max_answer} "
                              "bytes", sent=True)
        response._content, response._content_consumed = body, True
        return response

    @contextlib.contextmanager
    def within(self, deadline: float) -> Iterator[threading.Event]:
        """Every request made in the block is over by ``deadline``: its sockets are shut
        then, however slowly the server answers, and what broke is a ``HttpFailure`` of
        kind timeout. Yields the event that says the deadline passed."""
        if deadline - time.monotonic() <= 0:
            raise HttpFailure(FailureKind.TIMEOUT, "deadline passed before the request")
        expired = threading.Event()

        def expire() -> None:
            expired.set()
            self.abort()

        alarm = watchdog.arm(deadline, expire)
        try:
            yield expired
        except Exception as exc:
            if expired.is_set():
                raise HttpFailure(FailureKind.TIMEOUT, "deadline reached",
                                  sent=getattr(exc, "sent", True)) from None
            raise
        finally:
            watchdog.disarm(alarm)

    def _opened(self, connection: Any) -> None:
        with self._lock:
            self._live.add(connection)

    def abort(self) -> None:
        """Shut every open socket of this session; safe from another thread."""
        with self._lock:
            connections = list(self._live)
        for connection in connections:
            sock = getattr(connection, "sock", None)
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.session.close()


def _adapter(owner: PolicyHttp, context: ssl.SSLContext) -> Any:
    from requests.adapters import HTTPAdapter
    from urllib3.connection import HTTPSConnection
    from urllib3.connectionpool import HTTPSConnectionPool

    class PolicyConnection(HTTPSConnection):
        """Connects only to the addresses the destination policy allowed."""

        def _new_conn(self) -> socket.socket:
            infos = owner.policy.resolve(self._dns_host, self.port or 443, admin=owner.admin)
            sock = connect(infos, owner.timeout)
            owner._opened(self)
            return sock

    class PolicyPool(HTTPSConnectionPool):
        ConnectionCls = PolicyConnection

    class PolicyAdapter(HTTPAdapter):
        def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
            kwargs["ssl_context"] = context
            super().init_poolmanager(*args, **kwargs)
            self.poolmanager.pool_classes_by_scheme = {"https": PolicyPool}

        def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
            """Verified, always, against the context's store (the system's plus
            FALCANA_CA_BUNDLE, loaded once): requests would point each new connection at
            certifi's bundle, which urllib3 loads again per connection (25 ms each)."""
            conn.cert_reqs = "CERT_REQUIRED"
            conn.ca_certs = conn.ca_cert_dir = None

    return PolicyAdapter(max_retries=0)


def _Refused() -> Any:
    from requests.adapters import BaseAdapter

    class Refused(BaseAdapter):
        """Plain HTTP never carries a token."""

        def send(self, request: Any, *args: Any, **kwargs: Any) -> Any:
            raise DestinationRefused("only https:// is allowed for mail APIs",
                                     reason="scheme")

        def close(self) -> None:
            pass

    return Refused()


def _chain(exc: BaseException) -> list[BaseException]:
    """The exception and what it wraps (requests and urllib3 wrap several levels deep)."""
    seen: list[BaseException] = []
    todo: list[BaseException | None] = [exc]
    while todo:
        item = todo.pop(0)
        if item is None or any(item is s for s in seen) or len(seen) > 20:
            continue
        seen.append(item)
        reason = getattr(item, "reason", None)
        todo.extend([item.__cause__, item.__context__,
                     reason if isinstance(reason, BaseException) else None])
        todo.extend(a for a in getattr(item, "args", ()) if isinstance(a, BaseException))
    return seen


def classify(exc: BaseException) -> tuple[FailureKind, str]:
    """A failure kind for a request that broke, and a short detail (never a secret)."""
    chain = _chain(exc)
    for item in chain:
        if isinstance(item, DestinationRefused):
            return FailureKind.POLICY, str(item)
    for item in chain:
        if isinstance(item, socket.gaierror):
            return FailureKind.DNS, "name does not resolve"
        if isinstance(item, ssl.SSLCertVerificationError):
            return FailureKind.TLS_VERIFY, item.verify_message or "certificate not trusted"
        if isinstance(item, ssl.SSLError):
            return FailureKind.TLS_PROTOCOL, item.__class__.__name__
        if isinstance(item, ConnectionRefusedError):
            return FailureKind.REFUSED, "connection refused"
        if isinstance(item, (TimeoutError, socket.timeout)):
            return FailureKind.TIMEOUT, "no answer in time"
    names = {type(item).__name__ for item in chain}
    if names & {"RemoteDisconnected", "ProtocolError", "ConnectionResetError",
                "BrokenPipeError", "IncompleteRead"}:
        return FailureKind.CLOSED, "the server closed the connection"
    if names & {"ReadTimeoutError", "ConnectTimeoutError", "ConnectTimeout", "ReadTimeout"}:
        return FailureKind.TIMEOUT, "no answer in time"
    return FailureKind.UNREACHABLE, type(exc).__name__


def _body_sent(exc: BaseException) -> bool:
    """True when the request was on its way: the answer broke, not the connection."""
    names = {type(item).__name__ for item in _chain(exc)}
    return bool(names & {"RemoteDisconnected", "ReadTimeoutError", "ReadTimeout",
                         "IncompleteRead", "ChunkedEncodingError"}) and not \
        names & {"NewConnectionError", "ConnectTimeoutError", "NameResolutionError"}
