"""Reading a message from the inbox as a report about a sent one: a delivery status
notification (RFC 3464), a server's own bounce format, or an auto-reply (RFC 3834).

Standard DSNs are read here, field by field (Final-Recipient, Action, Status,
Diagnostic-Code, the returned headers): the standard is small and exact, and we need the
status and the server's text, which flufl.bounce does not give. The formats that are not
standard (qmail, older Exchange, Yahoo, GroupWise, and the many "simple" ones) are
flufl.bounce's (GNU Mailman's detectors): it finds the failed addresses, permanent or
temporary; the status and the reply are taken from the text around them. An auto-reply is
told by its headers (Auto-Submitted, X-Autoreply, Precedence) or its subject.

Nothing here trusts the message: it may be forged, malformed or huge. Parsing is bounded
(the caller gives at most ``MAX_REPORT`` bytes) and never raises on bad input.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import email
import email.policy
import email.utils
import enum
import logging
import re
from collections.abc import Iterable
from email.message import Message
from typing import Any

log = logging.getLogger(__name__)

MAX_REPORT = 2 * 1024 * 1024  # a report with the whole returned message stays below this
MAX_TEXT = 500  # characters of a server's text kept per recipient

#: headers that decide whether a message can be a report, fetched before any body
CANDIDATE_HEADERS = ("From", "Subject", "Content-Type", "Auto-Submitted", "X-Autoreply",
                     "X-Autorespond", "Precedence", "X-Failed-Recipients", "Return-Path",
                     "In-Reply-To", "References", "Date", "Message-ID")

_DAEMONS = re.compile(r"mailer-daemon|postmaster|mail delivery (sub)?system|"
                      r"microsoftexchange|maildelivery|mail-daemon|mdaemon", re.I)
_BOUNCE_SUBJECT = re.compile(
    r"undeliver|undelivered|delivery (status notification|failure|has failed)|"
    r"non-?delivery|"
    r"mail delivery failed|returned mail|failure notice|delivery notification|"
    r"unzustellbar|nicht zustellbar|zustellung fehlgeschlagen|"
    r"fehler bei der zustellung|non remis|warning: could not send|delayed mail", re.I)
_AUTO_SUBJECT = re.compile(
    r"^\s*(auto(matic)?[ -]?(reply|response|antwort)|automatische antwort|"
    r"abwesenheits(notiz|nachricht|meldung)|out of (the )?office|"
    r"abwesend|urlaub|vacation|absence|r[ée]ponse automatique)", re.I)
_STATUS = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
_REPLY = re.compile(r"\b([45]\d\d)[ -]")


class Kind(enum.StrEnum):
    HARD = "hard"  # the address does not exist: do not send there again
    SOFT = "soft"  # for now (mailbox full, a temporary refusal): may pass later
    DELAYED = "delayed"  # not delivered yet, still being tried
    POLICY = "policy"  # refused by a rule (spam, authentication of the sending domain)
    AUTO_REPLY = "auto_reply"  # an out-of-office or other automatic answer
    DELIVERED = "delivered"  # a report that says it arrived (a later success)


@dataclasses.dataclass(frozen=True)
class Finding:
    """What a report says about one recipient."""

    recipient: str
    kind: Kind
    status: str | None = None  # the enhanced status, "5.1.1"
    diagnostic: str = ""  # the remote server's text, as it gave it
    action: str | None = None  # the DSN's Action: failed, delayed, delivered


@dataclasses.dataclass(frozen=True)
class Report:
    """A message from the inbox read as a report; ``findings`` empty: not one."""

    format: str  # "dsn", "nonstandard", "auto_reply"
    findings: tuple[Finding, ...]
    #: the Message-IDs of the message it reports on (the returned headers)
    returned_ids: tuple[str, ...] = ()
    #: In-Reply-To and References (an auto-reply names the message it answers)
    references: tuple[str, ...] = ()
    reported_at: dt.datetime | None = None
    reporter: str = ""  # the report's From
    message_id: str = ""  # the report's own Message-ID (seen once)


def header_text(value: Any) -> str:
    return " ".join(str(value or "").split())[:MAX_TEXT]


def is_candidate(headers: Message) -> bool:
    """From the headers alone: may this message be a report? (Bodies are fetched only for
    candidates: the rest of the inbox is never read.)"""
    content_type = str(headers.get("Content-Type", "")).lower()
    if "multipart/report" in content_type:
        return True
    sender = str(headers.get("From", "")) + " " + str(headers.get("Return-Path", ""))
    subject = str(headers.get("Subject", ""))
    if headers.get("X-Failed-Recipients"):
        return True
    if _DAEMONS.search(sender) or _BOUNCE_SUBJECT.search(subject):
        return True
    return _auto_reply_headers(headers) or bool(_AUTO_SUBJECT.search(subject))


def _auto_reply_headers(msg: Message) -> bool:
    submitted = str(msg.get("Auto-Submitted", "")).strip().lower()
    precedence = str(msg.get("Precedence", "")).strip().lower()
    return submitted.startswith("auto-replied") or bool(msg.get("X-Autoreply")) or \
        bool(msg.get("X-Autorespond")) or precedence == "auto_reply"


def read_report(raw: bytes) -> Report | None:
    """The report in a message, or None when it is none (or cannot be read)."""
    if len(raw) > MAX_REPORT:
        return None
    try:
        msg = email.message_from_bytes(raw, policy=email.policy.compat32)
        return _read(msg)
    except Exception as exc:  # a malformed message is no report, never a crash
        log.info("a message could not be read as a report: %s", exc.__class__.__name__)
        return None


def _read(msg: Message) -> Report | None:
    base = Report("", (), (), tuple(_ids(msg.get("In-Reply-To"), msg.get("References"))),
                  _date(msg.get("Date")), header_text(msg.get("From")),
                  header_text(msg.get("Message-ID")))
    dsn = _dsn_part(msg)
    if dsn is not None:
        findings = tuple(_dsn_findings(dsn))
        if findings:
            return dataclasses.replace(base, format="dsn", findings=findings,
                                       returned_ids=_unique(_returned_ids(msg)))
    if _looks_like_bounce(msg):
        findings = tuple(_nonstandard(msg))
        if not findings:
            return None
        return dataclasses.replace(base, format="nonstandard", findings=findings,
                                   returned_ids=_unique(_returned_ids(msg)))
    if _auto_reply_headers(msg) or _AUTO_SUBJECT.search(str(msg.get("Subject", ""))):
        sender = email.utils.parseaddr(str(msg.get("From", "")))[1]
        if sender:
            return dataclasses.replace(base, format="auto_reply", findings=(Finding(
                sender.lower(), Kind.AUTO_REPLY, None, header_text(msg.get("Subject"))),))
    return None


def _looks_like_bounce(msg: Message) -> bool:
    sender = str(msg.get("From", "")) + " " + str(msg.get("Return-Path", ""))
    return bool(msg.get("X-Failed-Recipients") or _DAEMONS.search(sender)
                or _BOUNCE_SUBJECT.search(str(msg.get("Subject", "")))
                or "multipart/report" in str(msg.get("Content-Type", "")).lower())


# -- RFC 3464 ---------------------------------------------------------------------------

def _dsn_part(msg: Message) -> list[Message] | None:
    """The blocks of the message/delivery-status part (per message, then per recipient)."""
    for part in msg.walk():
        if part.get_content_type() in ("message/delivery-status",
                                       "message/global-delivery-status"):
            payload = part.get_payload()
            if isinstance(payload, list):
                return [p for p in payload if isinstance(p, Message)]
            if isinstance(payload, str):  # not parsed into blocks: read them ourselves
                return [email.message_from_string(block + "\n")
                        for block in re.split(r"\r?\n\s*\r?\n", payload) if block.strip()]
    return None


def _dsn_findings(blocks: list[Message]) -> Iterable[Finding]:
    for block in blocks:
        # the address as we sent it; Final-Recipient may be where it was forwarded to
        recipient = _address(block.get("Original-Recipient")) or \
            _address(block.get("Final-Recipient"))
        if not recipient:
            continue
        action = str(block.get("Action", "")).strip().lower() or None
        diagnostic = header_text(block.get("Diagnostic-Code", ""))
        diagnostic = re.sub(r"^\s*(smtp|x-[\w-]+)\s*;\s*", "", diagnostic, flags=re.I)
        # a server that leaves out Status still names it in its reply
        status_match = _STATUS.search(str(block.get("Status", ""))) or \
            _STATUS.search(diagnostic)
        status = ".".join(status_match.groups()) if status_match else None
        kind = classify(action, status, diagnostic)
        if kind is not None:
            yield Finding(recipient, kind, status, diagnostic, action)


def _address(value: Any) -> str:
    text = str(value or "").strip()
    if ";" in text:
        text = text.split(";", 1)[1]
    found = email.utils.parseaddr(text.strip())[1] or text.strip()
    return found.strip("<> ").lower() if "@" in found else ""


def classify(action: str | None, status: str | None, text: str = "") -> Kind | None:
    """The class of a recipient's outcome from the DSN's action, the enhanced status and
    the server's text; None for what says nothing (relayed, expanded)."""
    if action in ("delivered",):
        return Kind.DELIVERED
    if action in ("relayed", "expanded"):
        return None
    if action == "delayed" or ((status or "").startswith("4.") and action != "failed"):
        return Kind.DELAYED
    low = text.lower()
    if status is None:
        code = _REPLY.search(text)
        if code is None:
            return Kind.HARD if action == "failed" else None
        status = f"{code.group(1)[0]}.0.0"
    klass, subject, _detail = status.split(".")
    if klass == "4":
        return Kind.SOFT
    if subject == "7" or any(w in low for w in ("spam", "blocked", "blacklist", "spf",
                                                "dkim", "dmarc", "policy", "reputation")):
        return Kind.POLICY
    if status in ("5.2.2", "5.2.0") or any(w in low for w in (
            "quota", "mailbox full", "over quota", "postfach voll", "speicherplatz")):
        return Kind.SOFT
    return Kind.HARD


def _returned_ids(msg: Message) -> Iterable[str]:
    """The Message-ID of the returned message: in its text/rfc822-headers or
    message/rfc822 part (the headers of what we sent)."""
    for part in msg.walk():
        kind = part.get_content_type()
        if kind == "message/rfc822" or kind == "message/global":
            payload = part.get_payload()
            inner = payload[0] if isinstance(payload, list) and payload else None
            if isinstance(inner, Message) and inner.get("Message-ID"):
                yield header_text(inner.get("Message-ID"))
        elif kind in ("text/rfc822-headers", "message/global-headers"):
            raw = part.get_payload(decode=True) or b""
            headers = email.message_from_bytes(raw if isinstance(raw, bytes) else b"")
            if headers.get("Message-ID"):
                yield header_text(headers.get("Message-ID"))
    # a server that quotes the original in its text
    for part in msg.walk():
        if part.get_content_maintype() == "text":
            body = _text(part)
            for found in re.finditer(r"^\s*Message-ID:\s*(<[^>\s]{3,250}>)", body,
                                     re.I | re.M):
                yield found.group(1)


def _unique(ids: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(i for i in ids if i))


def _ids(*values: Any) -> Iterable[str]:
    for value in values:
        yield from re.findall(r"<[^>\s]{3,250}>", str(value or ""))


def _date(value: Any) -> dt.datetime | None:
    try:
        found = email.utils.parsedate_to_datetime(str(value))
    except (TypeError, ValueError, IndexError):
        return None
    if found is None:
        return None
    return found if found.tzinfo else found.replace(tzinfo=dt.UTC)


def _text(part: Message) -> str:
    raw = part.get_payload(decode=True)
    if not isinstance(raw, bytes):
        return ""
    return raw[:MAX_REPORT].decode(part.get_content_charset() or "utf-8", "replace")


# -- what is not standard: flufl.bounce ---------------------------------------------------

def _nonstandard(msg: Message) -> Iterable[Finding]:
    from flufl.bounce import all_failures

    temporary, permanent = all_failures(msg)
    body = "\n".join(_text(p) for p in msg.walk() if p.get_content_maintype() == "text")
    for addresses, default in ((permanent, Kind.HARD), (temporary, Kind.SOFT)):
        for raw in sorted(addresses):
            address = (raw.decode("utf-8", "replace") if isinstance(raw, bytes)
                       else str(raw)).strip("<> ").lower()
            if "@" not in address:
                continue
            status, diagnostic = _near(body, address)
            kind = classify("failed", status, diagnostic) if default is Kind.HARD \
                else Kind.SOFT
            yield Finding(address, kind or default, status, diagnostic, "failed")


def _near(body: str, address: str) -> tuple[str | None, str]:
    """The status and the server's line about ``address`` in a bounce's text."""
    lines = body.splitlines()
    for i, line in enumerate(lines):
        if address in line.lower():
            window = " ".join(s.strip() for s in lines[i:i + 4] if s.strip())
            status = _STATUS.search(window)
            return (".".join(status.groups()) if status else None), window[:MAX_TEXT]
    status = _STATUS.search(body)
    return (".".join(status.groups()) if status else None), ""
