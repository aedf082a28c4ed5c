"""Sending through a provider's mail API with the mailbox's OAuth2 token.

Microsoft Graph and the Gmail API take the whole MIME message in one HTTPS request and
answer 202/200 ("accepted": it may still bounce later, as after SMTP). What the two have
in common lives here: the transport the outbox and ``Host.send`` use, the step log
(``token``, ``request``, ``response``), a 401 answered by renewing the token once, the
token sent only to the API's configured base URL over verified TLS, and the failure
handed to ``explain_delivery_error`` with the API's error code, HTTP status and
``Retry-After``. A provider plugin describes its API with a ``MailApi`` (URL, body, how
its errors read) and registers ``MailApiTransport.factory(api)`` as a transport.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import email.parser
import email.policy
import email.utils
import json
import time
import urllib.parse
from collections.abc import Callable
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any, TypeVar

from falcana_core.api import (
    DeliveryFailure,
    FailureKind,
    Reply,
    Step,
    StepProblem,
    StepStatus,
    Text,
    printable,
    utcnow,
)
from falcana_core.api.net import HttpAnswer, HttpFailure, PolicyHttp, cancellation
from falcana_core.api.transport import DeliveryError, Envelope, Limits, SendResult, envelope
from falcana_oauth.i18n import _
from falcana_oauth.service import AccessToken, OAuthError, oauth

if TYPE_CHECKING:
    from falcana_core.api import Host, Mailbox

T = TypeVar("T")
MAX_RETRY_AFTER = 24 * 3600  # a Retry-After further out than a day is not believed


@dataclasses.dataclass(frozen=True)
class ApiRequest:
    url: str
    headers: dict[str, str]
    body: bytes


class MailApi:
    """How one provider's mail API is called and how its answers read. Subclass it in
    the provider plugin; the defaults fit a JSON error body ``{"error": {"code",
    "message"}}``."""

    transport: str = ""  # the transport's name ("graph")
    client: str = ""  # the OAuth client whose tokens it takes ("microsoft")
    label: Text = ""
    #: the largest message (MIME bytes) one request takes; larger ones are refused
    #: before anything is sent
    max_bytes: int = 0
    accepted_status: frozenset[int] = frozenset({200, 202})
    #: answer headers shown in the step log (request ids, quotas)
    shown_headers: tuple[str, ...] = ()

    def base_url(self, host: Host) -> str:
        """Where the token goes: the client's ``OAuthApi.base_url`` for this transport
        (https, from the deployment settings); empty without a client."""
        provider = oauth(host).providers().get(self.client)
        api = provider.api(self.transport) if provider is not None else None
        return api.base_url if api is not None else ""

    def request(self, base_url: str, account: str, mode: str, content: bytes) -> ApiRequest:
        raise NotImplementedError

    def error_code(self, answer: HttpAnswer) -> tuple[str, str]:
        """(the API's error code, its message) from an error answer."""
        error = error_json(answer.body).get("error")
        if isinstance(error, dict):
            return str(error.get("code") or ""), str(error.get("message") or "")
        return "", ""


def error_json(body: bytes) -> dict[str, Any]:
    try:
        found = json.loads(body.decode("utf-8", "replace") or "{}")
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def retry_after(value: str | None, now: float | None = None) -> int | None:
    """Seconds from a ``Retry-After`` header: a number, or an HTTP date (RFC 9110 10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        seconds = int(value)
    else:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = int(when.timestamp() - (now if now is not None else time.time()))
    return max(1, min(seconds, MAX_RETRY_AFTER))


def with_bcc(envelope: Envelope) -> bytes:
    """The content with the envelope's Bcc recipients as a Bcc header: a mail API takes
    its recipients from the MIME headers, and the stored content has no Bcc (it is kept
    for SMTP, where the envelope carries them). Both APIs remove Bcc before delivery."""
    headers = email.parser.BytesHeaderParser(policy=email.policy.default).parsebytes(
        envelope.content)
    shown = {addr.lower() for _name, addr in email.utils.getaddresses(
        [str(v) for key in ("To", "Cc") for v in headers.get_all(key, [])]) if addr}
    hidden = [r for r in envelope.recipients if r.lower() not in shown]
    if not hidden:
        return envelope.content
    line = ("Bcc: " + ", ".join(hidden) + "\r\n").encode("utf-8")
    return line + envelope.content


class MailApiConnection:
    """One mailbox's requests to a mail API; reuses its HTTPS connection."""

    def __init__(self, host: Host, mailbox: Mailbox, api: MailApi) -> None:
        self.host = host
        self.mailbox = mailbox
        self.api = api
        self.steps: list[Step] = []
        self.token: AccessToken | None = None
        self.mode = ""  # the sign-in's mode ("delegated", "app", "delegation")
        self.http = PolicyHttp(host.config.net_policy, ca_bundle=host.config.ca_bundle,
                               timeout=host.config.net_timeout)  # an admin's endpoint
        self._abort = cancellation.register(self.http.abort)
        self.deadline = 0.0
        #: the end of the work in hand (a test): open and every message keep to it
        self.fixed_deadline: float | None = None
        self.provider: str | None = None
        self._opened = False  # the step log keeps the token step of open() once
        #: read once per connection: it comes from the client's settings (several reads
        #: and a decrypted secret), which cost more than the request on a fast server
        self.base_url = api.base_url(host)

    # -- the step log ------------------------------------------------------------------

    def _step(self, step_id: str, fn: Callable[[], T],
              detail: Callable[[T], dict[str, Any]] | None = None) -> T:
        started = time.perf_counter()
        try:
            result = fn()
        except StepProblem as problem:
            self._failed(step_id, started, problem.detail)
            raise DeliveryError(*self._explained(DeliveryFailure(
                step_id, problem.kind, detail=problem.detail, data=problem.data,
                **self._where())), self.steps) from None
        except HttpFailure as failure:
            self._failed(step_id, started, failure.detail)
            raise DeliveryError(*self._explained(DeliveryFailure(
                step_id, failure.kind, detail=failure.detail,
                data={"api": self.api.transport}, **self._where())), self.steps,
                outcome_unknown=failure.sent) from None
        self.steps.append(Step(step_id, StepStatus.OK, (time.perf_counter() - started) * 1000,
                               None, detail(result) if detail else {}))
        return result

    def _failed(self, step_id: str, started: float, detail: str) -> None:
        self.steps.append(Step(step_id, StepStatus.FAILED,
                               (time.perf_counter() - started) * 1000, None,
                               {"error": printable(detail)}))

    def _where(self) -> dict[str, Any]:
        parts = urllib.parse.urlsplit(self.base_url)
        return {"host": parts.hostname or "", "port": parts.port or 443,
                "security": parts.scheme, "address": self.mailbox.address,
                "provider": self.provider}

    def _explained(self, failure: DeliveryFailure) -> tuple[DeliveryFailure, Any]:
        return failure, self.host.explain(failure)

    # -- token -------------------------------------------------------------------------

    def _token(self, rejected: AccessToken | None = None) -> AccessToken:
        def fetch() -> AccessToken:
            self._check_destination()
            return oauth(self.host).access_token(
                self.mailbox, transport=self.api.transport,
                rejected=rejected.token if rejected else None, deadline=self.deadline)

        token = self._step("token", fetch, detail=lambda t: {
            "source": t.source, "account": t.account, "expires_at": t.expires_at.isoformat()})
        self.token = token
        row = oauth(self.host).connection(self.mailbox.id)
        self.mode = row.mode if row is not None else ""
        return token

    def _usable(self) -> AccessToken:
        """The token in hand while it is good for a while; a connection may outlive it."""
        token = self.token
        if token is None or token.expires_at - dt.timedelta(seconds=60) <= utcnow():
            return self._token()
        return token

    def _check_destination(self) -> None:
        """The token goes only to the API's configured base URL, over verified TLS."""
        base = self.base_url
        if urllib.parse.urlsplit(base).scheme != "https":
            raise OAuthError("oauth.tls_required", _(
                "The OAuth2 token is sent only over HTTPS, not to {url}.", url=base), _(
                "Enter an https:// address for the API in the OAuth2 client's settings."))

    def open(self, *, deadline: float | None = None) -> MailApiConnection:
        """Get the token (the ``token`` step): a sign-in problem shows before a message
        is taken."""
        self.fixed_deadline = deadline
        self.deadline = deadline or time.monotonic() + self.host.config.test_deadline
        self._token()
        self._opened = True
        return self

    # -- sending -----------------------------------------------------------------------

    def send(self, message: EmailMessage) -> SendResult:
        """Send a message built by host code: From, Date and Message-ID are set here."""
        return self.send_envelope(envelope(message, self.mailbox.address,
                                           self.mailbox.sender_name))

    def send_envelope(self, envelope: Envelope) -> SendResult:
        """One request; a 401 renews the token and tries once more."""
        if not self._opened:
            self.steps.clear()  # one message's log (the first keeps the token of open())
        self._opened = False
        self.deadline = self.fixed_deadline or \
            time.monotonic() + self.host.config.send_deadline
        content = with_bcc(envelope)
        if self.api.max_bytes and len(content) > self.api.max_bytes:
            raise DeliveryError(*self._explained(DeliveryFailure(
                "request", FailureKind.OTHER, detail=f"message of {len(content)} bytes",
                data={"api": self.api.transport, "error": "too_large",
                      "size": len(content), "limit": self.api.max_bytes},
                **self._where())), self.steps)
        token = self._usable()
        answer = self._post(token, content)
        if answer.status == 401:
            self._response(answer, final=False)
            answer = self._post(self._token(rejected=token), content)
        self._response(answer, final=True)
        return SendResult(envelope.message_id, list(envelope.recipients))

    def _post(self, token: AccessToken, content: bytes) -> HttpAnswer:
        base = self.base_url.rstrip("/")
        request = self.api.request(base, token.account, self.mode, content)
        headers = {**request.headers, "Authorization": f"Bearer {token.token.reveal()}"}
        return self._step("request", lambda: self.http.post(
            request.url, data=request.body, headers=headers, deadline=self.deadline),
            detail=lambda _a: {"url": request.url, "bytes": len(request.body)})

    def _response(self, answer: HttpAnswer, *, final: bool) -> None:
        """The ``response`` step: accepted, or a failure with the API's error code."""
        shown = {h.lower(): printable(answer.headers[h], 200)
                 for h in self.api.shown_headers if h in answer.headers}
        # request ids and quota headers: what the provider's support asks for
        detail: dict[str, Any] = {"status": answer.status, "headers": shown}
        if answer.status in self.api.accepted_status:
            self.steps.append(Step("response", StepStatus.OK, 0.0,
                                   Reply(answer.status, None, "accepted"), detail))
            return
        code, message = self.api.error_code(answer)
        text = printable(" ".join(x for x in (code, message) if x) or str(answer.status), 500)
        reply = Reply(answer.status, None, text)
        detail["error"] = code
        self.steps.append(Step("response", StepStatus.FAILED, 0.0, reply, detail))
        if not final:
            return
        after = retry_after(answer.headers.get("Retry-After"))
        failure = DeliveryFailure(
            "response", FailureKind.REPLY, reply=reply, detail=text,
            data={"api": self.api.transport, "status": answer.status, "error": code,
                  "retry_after": after, **shown}, **self._where())
        # a gateway time-out: Graph may have sent it (as a broken SMTP DATA)
        raise DeliveryError(*self._explained(failure), self.steps,
                            outcome_unknown=answer.status == 504)

    def close(self) -> None:
        cancellation.unregister(self._abort)
        self.http.close()


class MailApiTransport:
    """The transport of one mailbox that sends through a mail API."""

    def __init__(self, host: Host, mailbox: Mailbox, api: MailApi) -> None:
        self.host = host
        self.mailbox = mailbox
        self.api = api

    @classmethod
    def factory(cls, api: MailApi) -> Callable[[Host, Mailbox], MailApiTransport]:
        def make(host: Host, mailbox: Mailbox) -> MailApiTransport:
            return cls(host, mailbox, api)

        return make

    def open(self, *, deadline: float | None = None) -> MailApiConnection:
        connection = MailApiConnection(self.host, self.mailbox, self.api)
        connection.provider = self.provider()
        try:
            return connection.open(deadline=deadline)
        except BaseException:
            connection.close()
            raise

    def provider(self) -> str | None:
        """The provider remembered when the settings were saved."""
        from falcana_smtp_settings.api import stored_provider

        return stored_provider(self.host, self.mailbox)

    def limits(self) -> Limits | None:
        """The provider's sending limits (Exchange's 30 a minute hold for Graph too)."""
        from falcana_smtp_settings.api import provider_limits

        return provider_limits(self.host, self.provider())
