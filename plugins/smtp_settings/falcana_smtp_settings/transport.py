"""The "smtp" mail transport: host code sends through a mailbox without knowing SMTP.

One connection is reused for several messages. A connection found dead before MAIL FROM is
reopened once; once DATA has begun nothing is resent silently: the outcome is reported.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any, NoReturn

from falcana_core.api import Step
from falcana_core.api.transport import DeliveryError, Envelope, Limits, SendResult
from falcana_smtp_settings.detection import detect_provider, known_server
from falcana_smtp_settings.exchange import SmtpSession, StepFailed
from falcana_smtp_settings.message import Prepared, prepare, prepare_envelope
from falcana_smtp_settings.settings import SmtpSettings, load_settings

if TYPE_CHECKING:
    from falcana_core.api import Host, Mailbox


def make_session(host: Host, settings: SmtpSettings, *, deadline: float | None = None,
                 admin: bool = True) -> SmtpSession:
    """An SMTP session; a sign-in method other than the password is left to the plugin
    that offered it (the ``smtp_login`` hook)."""

    def login(session: SmtpSession) -> str | None:
        used: str | None = host.hook.call("smtp_login", host=host, session=session,
                                          settings=session.settings)
        return used

    def password(s: SmtpSettings, value: str) -> str:
        adjusted: str = host.hook.call("smtp_password_for_auth", settings=s, password=value)
        return adjusted

    return SmtpSession(settings, ca_bundle=host.config.ca_bundle,
                       timeout=host.config.net_timeout, deadline=deadline, login_hook=login,
                       password_hook=password, policy=host.config.net_policy, admin=admin,
                       known_server=lambda server: known_server(host, server))


def with_provider(host: Host, settings: SmtpSettings, *, dns: bool = True) -> SmtpSettings:
    """The settings with their provider: recognised now (``dns``: MX records too, for a
    test), or as remembered when they were saved (sending: no DNS on the way)."""
    import dataclasses

    if not dns and settings.provider:
        return settings
    detection = detect_provider(host, settings.address, settings.host, dns=dns)
    return dataclasses.replace(settings, provider=detection.provider if detection else None)


class SmtpConnection:
    """An open, authenticated connection that sends message after message."""

    def __init__(self, host: Host, settings: SmtpSettings) -> None:
        self.host = host
        self.settings = settings
        self.session: SmtpSession | None = None
        #: the end of the work in hand, for every exchange (a test); None: per message
        self.deadline: float | None = None

    def _fail(self, error: StepFailed, session: SmtpSession) -> NoReturn:
        explanation = self.host.explain(error.failure)
        raise DeliveryError(error.failure, explanation, session.steps,
                            outcome_unknown=error.outcome_unknown) from None

    @property
    def steps(self) -> list[Step]:
        return self.session.steps if self.session is not None else []

    def open(self, *, deadline: float | None = None) -> SmtpConnection:
        if deadline is not None:
            self.deadline = deadline
        session = make_session(self.host, self.settings, deadline=self.deadline or
                               deadline_in(self.host.config.test_deadline))
        try:
            session.open()
        except StepFailed as error:
            self._fail(error, session)
        self.session = session
        return self

    def send(self, message: EmailMessage) -> SendResult:
        def build(smtp: Any) -> Prepared:
            return prepare(message, self.settings, server_smtputf8=smtp.has_extn("smtputf8"),
                           server_8bitmime=smtp.has_extn("8bitmime"))

        return self._attempt(build)

    def send_envelope(self, envelope: Envelope) -> SendResult:
        """Send stored bytes as they are (the outbox's path: no parsing, no rebuilding)."""

        def build(smtp: Any) -> Prepared:
            return prepare_envelope(envelope, server_smtputf8=smtp.has_extn("smtputf8"),
                                    server_8bitmime=smtp.has_extn("8bitmime"))

        return self._attempt(build)

    def _attempt(self, build: Callable[[Any], Prepared]) -> SendResult:
        reopened = False
        while True:
            if self.session is None or not self.session.alive:
                self.open()
            session = self.session
            assert session is not None
            session.steps.clear()
            # one absolute deadline per delivery attempt, however slowly the server talks
            session.deadline = self.deadline or deadline_in(self.host.config.send_deadline)
            try:
                return self._send_once(session, build)
            except StepFailed as error:
                dead_before_mail = (error.failure.step == "mail_from"
                                    and error.failure.kind.value in {"closed", "timeout"})
                if dead_before_mail and not reopened:
                    reopened = True  # found dead before MAIL FROM: reopen once
                    self.session = None
                    continue
                self._fail(error, session)

    def _send_once(self, session: SmtpSession, build: Callable[[Any], Prepared]
                   ) -> SendResult:
        smtp = session.smtp
        assert smtp is not None
        try:
            envelope = build(smtp)
        except Exception as exc:
            caught = exc

            def reraise() -> NoReturn:
                raise caught

            session.step("mail_from", reraise)
            raise  # pragma: no cover - step() raised already
        refused = session.send(envelope.content, envelope.sender, envelope.recipients,
                               envelope.mail_options)
        accepted = [r for r in envelope.recipients if r not in refused]
        return SendResult(envelope.message_id, accepted, refused)

    def close(self) -> None:
        if self.session is not None:
            self.session.quit()
            self.session = None


class SmtpTransport:
    def __init__(self, host: Host, mailbox: Mailbox) -> None:
        self.host = host
        self.mailbox = mailbox

    def open(self, *, deadline: float | None = None) -> SmtpConnection:
        settings = with_provider(self.host, load_settings(self.host, self.mailbox), dns=False)
        return SmtpConnection(self.host, settings).open(deadline=deadline)

    def limits(self) -> Limits | None:
        return provider_limits(self.host, stored_provider(self.host, self.mailbox))


def provider_limits(host: Host, provider: str | None) -> Limits | None:
    """The sending limits a provider plugin declares for ``provider`` (hook
    ``provider_limits``), None for an unknown provider."""
    if not provider:
        return None
    limits: Limits | None = host.hook.call("provider_limits", provider=provider)
    return limits


def stored_provider(host: Host, mailbox: Mailbox) -> str | None:
    """The recognised provider (for its sending limits): as remembered when the settings
    were saved, else from address and server (no DNS on the send path)."""
    from falcana_smtp_settings.models import SmtpAccount

    with host.sessions() as s:  # one row: the worker asks this per mailbox
        account = s.get(SmtpAccount, mailbox.id)
        if account is None:
            return None
        if account.provider:
            return account.provider
        server = account.host
    found = detect_provider(host, mailbox.address, server, dns=False)
    return found.provider if found else None


def deadline_in(seconds: float) -> float:
    return time.monotonic() + seconds
