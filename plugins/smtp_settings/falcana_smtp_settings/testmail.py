"""The "Test-e-mail senden" action: the admin's main diagnostic.

Runs the real exchange step by step and returns the step log; on failure the failing
step, the server's reply and the best explanation. The mail says which settings were used
(never the password) and when.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import time
from collections.abc import Mapping
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING, Any

from falcana_core.api import (
    AddressError,
    DeliveryFailure,
    Explanation,
    Step,
    Text,
    current_language,
    normalise_address,
    text_in,
)
from falcana_smtp_settings.exchange import StepFailed, ehlo_name
from falcana_smtp_settings.i18n import _
from falcana_smtp_settings.ids import SMTP
from falcana_smtp_settings.message import prepare
from falcana_smtp_settings.section import SmtpSection
from falcana_smtp_settings.settings import SmtpSettings, load_settings, remember_offer
from falcana_smtp_settings.transport import make_session, with_provider

if TYPE_CHECKING:
    import jinja2

    from falcana_core.api import Host, Mailbox, SectionContext

JSON_VERSION = 1


@dataclasses.dataclass
class TestPart:
    """A further check after the test e-mail went out, with its own step log (the copy
    in Sent, from the hook ``smtp_test_sent``)."""

    title: Text
    ok: bool
    steps: list[Step]
    explanation: Explanation | None = None
    note: Text | None = None
    failed_step: str | None = None

    def as_dict(self, lang: str) -> dict[str, Any]:
        return {"title": text_in(self.title, lang), "ok": self.ok,
                "failed_step": self.failed_step, "steps": [_step(s) for s in self.steps],
                "explanation": self.explanation.as_dict(lang) if self.explanation else None,
                "note": text_in(self.note, lang) if self.note is not None else None}


def _step(s: Step) -> dict[str, Any]:
    return {"id": s.id, "status": s.status.value, "duration_ms": round(s.duration_ms, 2),
            "reply_code": s.reply.code if s.reply else None,
            "enhanced_status": s.reply.enhanced if s.reply else None,
            "reply_text": s.reply.text if s.reply else None, "detail": s.detail}


@dataclasses.dataclass
class TestResult:
    ok: bool
    steps: list[Step]
    recipient: str
    verify_only: bool = False
    failure: DeliveryFailure | None = None
    explanation: Explanation | None = None
    tls: dict[str, Any] = dataclasses.field(default_factory=dict)
    auth_mechanism: str | None = None
    offer_pin: dict[str, Any] | None = None  # {"host", "port", "sha256", "subject", ...}
    message_id: str | None = None
    note: Text | None = None
    parts: list[TestPart] = dataclasses.field(default_factory=list)
    #: the settings tested were typed, not (all) saved
    unsaved: bool = False
    #: what stopped the test before any connection: (field, its label, the message) of
    #: each field error
    invalid: list[tuple[str | None, Text, Text]] = dataclasses.field(default_factory=list)

    @property
    def failed_step(self) -> str | None:
        return self.failure.step if self.failure else None

    def as_dict(self, lang: str | None = None) -> dict[str, Any]:
        """The versioned document of ``falcana mail test --json``."""
        lang = lang or current_language()
        return {
            "version": JSON_VERSION,
            "ok": self.ok,
            "recipient": self.recipient,
            "verify_only": self.verify_only,
            "failed_step": self.failed_step,
            "steps": [_step(s) for s in self.steps],
            "explanation": self.explanation.as_dict(lang) if self.explanation else None,
            "tls": self.tls,
            "auth_mechanism": self.auth_mechanism,
            "offer_pin": self.offer_pin,
            "message_id": self.message_id,
            "note": text_in(self.note, lang) if self.note is not None else None,
            "parts": [p.as_dict(lang) for p in self.parts],
            "unsaved": self.unsaved,
            "invalid": [{"field": f, "label": text_in(label, lang), "message": text_in(m, lang)}
                        for f, label, m in self.invalid],
        }


@functools.cache
def _templates() -> jinja2.Environment:
    import jinja2

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=jinja2.select_autoescape(["html"]), keep_trailing_newline=True)


SECURITY_LABELS = {"normal": "normal", "tls": "TLS (STARTTLS)", "ssl": "SSL"}


def build_test_message(settings: SmtpSettings, recipient: str, *,
                       via: Text | None = None) -> EmailMessage:
    """Text and HTML bodies saying which settings were used (never the password) and when;
    ``via``: the mail API it went through instead of SMTP."""
    now = dt.datetime.now(dt.UTC).astimezone()
    subject = str(_("falcana test e-mail"))
    context = {
        "lang": current_language(),
        "subject": subject,
        "intro": str(_("This is a test e-mail from falcana. If you can read it, the mailbox "
                       "settings work.")),
        "outro": str(_("You do not need to answer this e-mail.")),
        "sent_at_label": str(_("Sent at")),
        "sent_at": now.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "rows": [
            (str(_("E-mail")), settings.address),
            (str(_("Display name")), settings.sender_name),
            (str(_("E-mail username")), settings.username),
            (str(_("E-mail port")), str(settings.port)),
            (str(_("E-mail connection type")), SECURITY_LABELS.get(settings.security,
                                                                    settings.security)),
            (str(_("Outgoing mail server (SMTP)")), settings.host),
        ] if via is None else [
            (str(_("E-mail")), settings.address),
            (str(_("Display name")), settings.sender_name),
            (str(_("Send through")), str(via)),
        ],
    }
    env = _templates()
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["To"] = recipient
    msg.set_content(env.get_template("test_mail.txt").render(context))
    msg.add_alternative(env.get_template("test_mail.html").render(context), subtype="html")
    return msg


def run_test(host: Host, settings: SmtpSettings, *, to: str | None = None,
             verify_only: bool = False, admin: bool = True) -> TestResult:
    """Send a test mail (or stop after RCPT TO) and record every step; the whole test
    ends at ``FALCANA_TEST_DEADLINE``, whatever the server does. ``admin``: whose test
    (a non-admin's may use the deployment's user ports only)."""
    settings = with_provider(host, settings)
    recipient = to or settings.address
    deadline = time.monotonic() + host.config.test_deadline
    session = make_session(host, settings, deadline=deadline, admin=admin)
    result = TestResult(ok=False, steps=session.steps, recipient=recipient,
                        verify_only=verify_only)
    try:
        session.open()
        result.tls, result.auth_mechanism = session.tls, session.auth_mechanism
        smtp = session.smtp
        assert smtp is not None
        message = build_test_message(settings, recipient)
        envelope = prepare(message, settings, server_smtputf8=smtp.has_extn("smtputf8"),
                           server_8bitmime=smtp.has_extn("8bitmime"))
        result.message_id = envelope.message_id
        if verify_only:
            _verify(session, envelope.sender, envelope.recipients)
            result.note = _("Verified up to RCPT TO without sending. Refusals that come "
                            "only after DATA (such as Microsoft's Send As check) cannot "
                            "be seen this way.")
            session.skip("data", "verify only")
        else:
            refused = session.send(envelope.content, envelope.sender, envelope.recipients,
                                   envelope.mail_options)
            if refused:
                result.note = _("Some recipients were refused: {list}",
                                list=", ".join(refused))
        session.quit()
        result.ok = True
        if not verify_only:
            box = host.mailboxes.get(settings.mailbox_id)
            if box is not None:  # the copy in Sent and other checks of plugins
                result.parts = [part for _plugin, part in host.hook.call(
                    "smtp_test_sent", host=host, mailbox=box, content=envelope.content,
                    message_id=envelope.message_id)]
    except StepFailed as error:
        result.failure = error.failure
        result.explanation = host.explain(error.failure)
        if error.failure.kind.value == "tls_verify":
            result.offer_pin = fetch_certificate(host, settings, deadline)
            if result.offer_pin:  # remembered: the pin route takes no fingerprint
                remember_offer(host, settings.mailbox_id, settings.host, settings.port,
                               result.offer_pin["sha256"])
    except Exception as exc:  # prepare() refused (e.g. SMTPUTF8), reported as mail_from
        refused_by_prepare = exc
        try:
            session.step("mail_from", lambda: _raise(refused_by_prepare))
        except StepFailed as error:
            result.failure = error.failure
            result.explanation = host.explain(error.failure)
    finally:
        session.abort()
    result.tls = result.tls or session.tls
    return result


def _raise(exc: BaseException) -> Any:
    raise exc


def _verify(session: Any, sender: str, recipients: list[str]) -> None:
    smtp = session.smtp

    def mail() -> tuple[int, bytes]:
        import smtplib

        code, msg = smtp.mail(sender)
        if code != 250:
            raise smtplib.SMTPSenderRefused(code, msg, sender)
        return code, msg

    def rcpt() -> tuple[int, bytes]:
        import smtplib

        last = (0, b"")
        for r in recipients:
            code, msg = smtp.rcpt(r)
            if code not in (250, 251):
                raise smtplib.SMTPRecipientsRefused({r: (code, msg)})
            last = (code, msg)
        smtp.rset()
        return last

    from falcana_smtp_settings.exchange import _reply

    session.step("mail_from", mail, reply=_reply)
    session.step("rcpt_to", rcpt, reply=_reply)


def fetch_certificate(host: Host, settings: SmtpSettings,
                      deadline: float) -> dict[str, Any] | None:
    """The server's certificate through an unverified handshake on which nothing else is
    sent, to offer it for pinning."""
    import smtplib
    import ssl

    from falcana_core.api.net import connect
    from falcana_smtp_settings.tls import certificate_info, unverified_context

    timeout = max(1.0, min(host.config.net_timeout, deadline - time.monotonic()))
    ctx = unverified_context()
    try:
        infos = host.config.net_policy.resolve(settings.host, settings.port)
        raw = connect(infos, timeout)
        if settings.security == "ssl":
            with ctx.wrap_socket(raw, server_hostname=settings.host) as tls:
                der = tls.getpeercert(binary_form=True)
        else:
            smtp = smtplib.SMTP(timeout=timeout, local_hostname=ehlo_name())
            smtp.sock = raw
            smtp._host = settings.host  # type: ignore[attr-defined]
            try:
                smtp.getreply()
                smtp.ehlo()
                smtp.starttls(context=ctx)
                assert isinstance(smtp.sock, ssl.SSLSocket)
                der = smtp.sock.getpeercert(binary_form=True)
            finally:
                smtp.close()  # no QUIT, nothing more on this connection
    except (OSError, smtplib.SMTPException):
        return None
    if not der:
        return None
    info = certificate_info(der).as_dict()
    # the web route that pins it (see web.py)
    info.update({"host": settings.host, "port": settings.port, "endpoint": "smtp_settings.pin"})
    return info


def run_transport_test(host: Host, mailbox: Mailbox, settings: SmtpSettings, via: Text, *,
                       to: str | None = None, verify_only: bool = False) -> TestResult:
    """The test through the mailbox's other transport (a mail API): its own step log
    (``token``, ``request``, ``response``), its failures explained the same way."""
    from falcana_core.api.transport import DeliveryError

    recipient = to or settings.address
    result = TestResult(ok=False, steps=[], recipient=recipient, verify_only=verify_only)
    connection = None
    try:
        # the test's own deadline, for the token, the request and its answer alike
        connection = host.transport(mailbox).open(
            deadline=time.monotonic() + host.config.test_deadline)
        result.steps = connection.steps
        if verify_only:
            result.note = _("{via} cannot check recipients without sending: only the "
                            "sign-in was tested.", via=via)
        else:
            sent = connection.send(build_test_message(settings, recipient, via=via))
            result.message_id = sent.message_id
            result.note = _("Accepted by {via}, which files the message in Sent itself. "
                            "A bounce may still come later, as with SMTP.", via=via)
        result.ok = True
    except DeliveryError as error:
        result.steps, result.failure = error.steps, error.failure
        result.explanation = error.explanation
    finally:
        if connection is not None:
            connection.close()
    return result


def test_action(ctx: SectionContext, params: Mapping[str, Any]) -> TestResult:
    """The handler behind "Test-e-mail senden". ``params``: ``to``, ``verify_only``, and the
    form as it stands (``email``, ``host``, ``port``, ``password`` ...: see ``typed``): the
    test runs on those values, checked as a save checks them, and saves nothing."""
    from falcana_smtp_settings.typed import settings_as_typed

    assert ctx.mailbox is not None
    to = params.get("to") or None
    if to is not None:
        try:
            to = normalise_address(str(to))
        except AddressError:
            raise ValueError(str(_("The test recipient is not a valid e-mail address."))
                             ) from None
    verify_only = params.get("verify_only") in (True, "1", "true", "on")
    transport = ctx.mailbox.transport or SMTP
    typed = params.get("transport")
    if typed and typed != transport:
        raise ValueError(str(_("Save the new way of sending first (and sign in where it "
                               "asks you to), then test it.")))
    if transport != SMTP:
        labels = {c.value: c.label for c in SmtpSection().transport_choices(ctx)}
        result = run_transport_test(ctx.host, ctx.mailbox, load_settings(ctx.host, ctx.mailbox),
                                    labels.get(transport, transport), to=to,
                                    verify_only=verify_only)
    else:
        found = settings_as_typed(ctx, params)
        if found.settings is None:
            labels = {f.id: f.label for f in SmtpSection().fields(ctx)}
            result = TestResult(ok=False, steps=[], recipient=to or "", unsaved=True,
                                invalid=[(m.field, labels.get(m.field or "", ""), m.text)
                                         for m in found.validation.errors])
        else:
            result = run_test(ctx.host, found.settings, to=to, verify_only=verify_only,
                              admin=ctx.admin)
            result.unsaved = found.unsaved
    ctx.host.audit.record(ctx.actor, "smtp.test", "mailbox", str(ctx.mailbox.id),
                          {"ok": result.ok, "transport": transport,
                           "failed_step": result.failed_step,
                           "explanation": result.explanation.id if result.explanation
                           else None, "verify_only": result.verify_only,
                           "unsaved": result.unsaved,
                           "invalid": [f for f, _label, _m in result.invalid]})
    return result
