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
import email.header
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
    r"abwesenheits(notiz|nachricht|meldung)|out of (the )?office( reply)?\s*:|"
    r"abwesend\s*:|vacation (reply|message)\s*:|r[ée]ponse automatique)", re.I)
_STATUS = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
_REPLY = re.compile(r"\b([45]\d\d)[ -]")
_FIELDS = re.compile(rb"^(final|original)-recipient:", re.I | re.M)
_RETURNED = re.compile(r"^\s*-{3,}|^(received|return-path):|original message|"
                       r"copy of the message|undelivered message", re.I)
_BARE_ADDRESS = re.compile(r"[\w.+%=-]+@[\w-]+(\.[\w-]+)+")
_ADDRESS = re.compile(r"<?[^\s<>@]+@[^\s<>@]+>?")


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


def decoded(value: Any) -> str:
    """A header's text with its encoded words (RFC 2047) decoded: "Unzustellbar" and
    "Abwesenheitsnotiz" come as =?utf-8?q?...?= as often as not."""
    text = str(value or "")
    if "=?" not in text:
        return text  # nothing encoded: most subjects
    try:
        return str(email.header.make_header(email.header.decode_header(text)))
    except (ValueError, LookupError, UnicodeDecodeError):
        return text


def is_candidate(headers: Message) -> bool:
    """From the headers alone: may this message be a report? (Bodies are fetched only for
    candidates: the rest of the inbox is never read.)"""
    content_type = str(headers.get("Content-Type", "")).lower()
    if "multipart/report" in content_type:
        return True
    sender = str(headers.get("From", "")) + " " + str(headers.get("Return-Path", ""))
    subject = decoded(headers.get("Subject"))
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
        return _read(msg, raw)
    except Exception as exc:  # a malformed message is no report, never a crash
        log.info("a message could not be read as a report: %s", exc.__class__.__name__)
        return None


def _read(msg: Message, raw: bytes = b"") -> Report | None:
    base = Report("", (), (), tuple(_ids(msg.get("In-Reply-To"), msg.get("References"))),
                  _date(msg.get("Date")), header_text(msg.get("From")),
                  header_text(msg.get("Message-ID")))
    dsn = _dsn_part(msg, raw)
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
    if _auto_reply_headers(msg) or _AUTO_SUBJECT.search(decoded(msg.get("Subject"))):
        sender = email.utils.parseaddr(str(msg.get("From", "")))[1]
        if sender:
            return dataclasses.replace(base, format="auto_reply", findings=(Finding(
                sender.lower(), Kind.AUTO_REPLY, None, header_text(decoded(msg.get("Subject")))),))
    return None


def _looks_like_bounce(msg: Message) -> bool:
    sender = str(msg.get("From", "")) + " " + str(msg.get("Return-Path", ""))
    return bool(msg.get("X-Failed-Recipients") or _DAEMONS.search(sender)
                or _BOUNCE_SUBJECT.search(decoded(msg.get("Subject")))
                or "multipart/report" in str(msg.get("Content-Type", "")).lower())


# -- RFC 3464 ---------------------------------------------------------------------------

def _dsn_part(msg: Message, raw: bytes = b"") -> list[Message] | None:
    """The blocks of the message/delivery-status part (per message, then per recipient)."""
    for part in msg.walk():
        if part.get_content_type() in ("message/delivery-status",
                                       "message/global-delivery-status"):
            payload = part.get_payload()
            if isinstance(payload, list):
                return [p for p in payload if isinstance(p, Message)]
            if isinstance(payload, str):  # not parsed into blocks: read them ourselves
                return _blocks(payload)
    # a broken MIME tree (a wrong boundary): the fields may still be there, as text
    payload = msg.get_payload()
    if isinstance(payload, list):  # parts that are no parts: read the message as text
        payload = raw.decode("utf-8", "replace") if _FIELDS.search(raw) else None
    if isinstance(payload, str) and re.search(r"^(final|original)-recipient:", payload,
                                              re.I | re.M):
        return [b for b in _blocks(payload) if b.get("Final-Recipient") or
                b.get("Original-Recipient") or b.get("Reporting-MTA")]
    return None


def _blocks(text: str) -> list[Message]:
    return [email.message_from_string(block.strip("\r\n") + "\n")
            for block in re.split(r"\r?\n\s*\r?\n", text) if block.strip()]


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
    found = (email.utils.parseaddr(text.strip())[1] or text.strip()).strip("<> ").lower()
    found = found.rsplit(":", 1)[-1]  # a source route, "@relay:user@example.org"
    return found if re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", found) else ""


#: what a server's text says about the cause, tried in this order before the status code:
#: a temporary state first (a "refused" connection is no policy), then an address that
#: does not exist, then a rule of the receiving side. The phrases are the ones the servers
#: of the test corpus use (Postfix, Exim, Sendmail, qmail, Exchange, Gmail, GMX, 1&1).
_SOFT_TEXT = re.compile(
    r"mailbox (is )?full|quota|storage (limit|space)|postfach (ist )?voll|speicherplatz|"
    r"insufficient (system )?storage|disk full|"
    r"disabled|inactive|(account|mailbox|user)( is| has been)? suspended|frozen|"
    r"account is locked|deaktiviert|gesperrt|"
    r"expired|retry time(out)? (was )?exceeded|retry timeout|timed? ?out|"
    r"no route to host|connection refused|network is unreachable|"
    r"try again|name service error|dns query failed|all hosts have been failing|"
    r"did not accept our requests|too many (recipients|hops|connections)|"
    r"receiving mail at a rate|"
    r"transaction failed|improper sequence|parameter not implemented|"
    r"local configuration error|unable to deliver mail|mailer error|"
    r"does not support tls|pipe to \||procmail|couldn.t create", re.I)
_HARD_TEXT = re.compile(
    r"user unknown|unknown user|no such (user|mailbox|recipient|address)|"
    r"(address|account|mailbox|user|recipient)[^.;]{0,40}(does not|doesn.t|do not|may not) exist|"
    r"(recipient|user|address|mailbox) (not found|unknown|invalid|unavailable)|"
    r"invalid (recipient|mailbox|address)|recipientnotfound|unrouteable address|"
    r"unknown (local part|recipient|address)|not a valid (mailbox|recipient)|"
    r"host (or domain name )?not found|domain (not found|does not exist)|"
    r"null mx|does not accept mail|doesn.t receive email|has moved|not reachable|"
    r"(?<!sender )(?<!sender's )address rejected|not a registered|"
    r"empf.nger (unbekannt|existiert nicht)|unbekannter empf.nger|"
    r"adresse (existiert nicht|unbekannt)", re.I)
_POLICY_TEXT = re.compile(
    r"spam|black ?list|block ?list|\bblocked\b|spamhaus|barracuda|\brbl\b|dnsbl|"
    r"reputation|\bspf\b|dkim|dmarc|policy|reverse (dns|lookup)|\bptr\b|rdns|"
    r"ip name lookup failed|client host rejected|mismatches client ip|"
    r"not accepting connections|service not available|valid sender domain|"
    r"after (initial connection|ehlo|helo|mail from)|sender address|"
    r"sender (address )?(was )?rejected|domain of sender|my name was rejected|"
    r"relay(ing)? (access )?denied|not permitted to relay|relay not permitted|"
    r"not accepted|unauthenticated|authentication required|virus|content rejected|"
    r"protocol violation|8-bit data|headers too large|too (large|big)|size exceeds|"
    r"size limit|sizelimit|not allowed|prohibited|unexpected volume|refused to talk|server refused|"
    r"^rejected|\b[45]\d\d rejected\b|line limit|message rejected|"
    r"abgelehnt|unerw.nscht", re.I)


def _said(text: str) -> Kind | None:
    """The cause the server's text names first (servers put the cause before the advice:
    "not allowed to send per its SPF record. Please try again" is a policy)."""
    # the addresses themselves say nothing ("mailboxfull@", "nospam@"), and Postfix's
    # "Recipient address rejected: Mailbox full" names its reason after the colon
    text = _ADDRESS.sub(" ", text)
    text = re.sub(r"(recipient )?address rejected:\s*(?=\w)", "", text, flags=re.I)
    found = [(m.start(), order, kind) for order, (pattern, kind) in enumerate((
        (_SOFT_TEXT, Kind.SOFT), (_HARD_TEXT, Kind.HARD), (_POLICY_TEXT, Kind.POLICY)))
        if (m := pattern.search(text))]
    return min(found)[2] if found else None


def classify(action: str | None, status: str | None, text: str = "") -> Kind | None:
    """The class of a recipient's outcome from the DSN's action, the server's text and the
    enhanced status; None for what says nothing (relayed, expanded).

    The server's text comes first: the status is often a bare 5.0.0 (or, from some
    servers, a 5.x.x that does not fit), while "Mailbox full" or "listed in Spamhaus" says
    what the sender must do. The status decides where the text says nothing we know."""
    if action in ("delivered", "deliverable"):
        return Kind.DELIVERED
    if action in ("relayed", "expanded"):
        return None
    if action == "delayed":
        return Kind.DELAYED
    said = _said(text)
    if said is not None:
        if said is Kind.SOFT and action != "failed" and (status or "").startswith("4."):
            return Kind.DELAYED
        return said
    if status is None:
        code = _REPLY.search(text)
        if code is None:
            return Kind.HARD if action == "failed" else None
        status = f"{code.group(1)[0]}.0.0"
    klass, subject, _detail = status.split(".")
    if klass == "4":
        return Kind.SOFT if action == "failed" else Kind.DELAYED
    if subject in ("6", "7"):  # content and security: a rule of the receiving side
        return Kind.POLICY
    # 5.4.1: Microsoft's "Recipient address rejected: Access denied" for an address its
    # directory does not know
    if subject == "1" or status in ("5.4.4", "5.4.1", "5.4.0", "5.0.0"):
        return Kind.HARD  # the address or its domain
    return Kind.SOFT  # the mailbox (5.2), the system (5.3), routing (5.4), protocol (5.5)


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

    temporary, permanent = ({a for a in map(_flufl_address, found) if a}
                            for found in all_failures(msg))
    body = "\n".join(_text(p) for p in msg.walk() if p.get_content_maintype() == "text")
    if not temporary and not permanent:
        permanent = set(_named_in_text(msg, body))
    # flufl.bounce's temporary failures are the warnings of a server still trying
    for addresses, default in ((permanent, Kind.HARD), (temporary, Kind.DELAYED)):
        for address in sorted(addresses):
            status, around = _near(body, address, 1500)
            diagnostic = around[:MAX_TEXT]
            kind = classify("failed", status, around) or default
            if default is Kind.DELAYED and kind is not Kind.POLICY:
                kind = Kind.DELAYED  # what the server still tries is not gone for good
            yield Finding(address, kind, status, diagnostic, "failed")


def _flufl_address(raw: bytes | str) -> str:
    address = (raw.decode("utf-8", "replace") if isinstance(raw, bytes)
               else str(raw)).strip("<> ").lower()
    return address if _BARE_ADDRESS.fullmatch(address) else ""


#: the line before a list of failed recipients in the formats flufl.bounce does not know
#: (Exchange and Microsoft 365 in English and German, older Exchange connectors)
_LIST_INTRO = re.compile(
    r"delivery has failed to these recipients|did not reach some or all of the intended|"
    r"could not be delivered to (the following|these) recipients|"
    r"following recipient\(s\) could not be reached|following addresses had permanent|"
    r"zustellung an folgende empf.nger[^\n]*fehlgeschlagen|"
    r"konnte (an )?folgende[^\n]*nicht zugestellt", re.I)


def _named_in_text(msg: Message, body: str) -> Iterable[str]:
    """Failed recipients a bounce names where flufl.bounce finds none: Exim's
    X-Failed-Recipients, the addresses listed below an intro line, qmail's "<address>:"
    lines. Our own addresses (the report's To) are never among them."""
    own = {a.lower() for _n, a in email.utils.getaddresses([str(msg.get("To", ""))])}
    found: list[str] = [a for _n, a in email.utils.getaddresses(
        [str(msg.get("X-Failed-Recipients", ""))])]
    lines = body.splitlines()
    for i, line in enumerate(lines):
        if _LIST_INTRO.search(line):
            for following in [x for x in lines[i + 1:i + 8] if x.strip()][:4]:
                found.extend(m.group(0) for m in _BARE_ADDRESS.finditer(following))
        elif re.fullmatch(r"\s*<[^<>\s]+@[^<>\s]+>:\s*", line):
            found.append(line.strip().strip("<>:"))
    return [a for a in dict.fromkeys(x.lower().strip("<>") for x in found)
            if "@" in a and a not in own]


def _near(body: str, address: str, size: int = MAX_TEXT) -> tuple[str | None, str]:
    """The status and the server's lines about ``address`` in a bounce's text."""
    lines = body.splitlines()
    for i, line in enumerate(lines):
        if address in line.lower():
            near: list[str] = []
            for following in lines[i:i + 12]:
                if near and _RETURNED.search(following):
                    break  # the returned message says nothing about the outcome
                near.append(following.strip())
            window = " ".join(s for s in near if s)[:size]
            status = _STATUS.search(window)
            return (".".join(status.groups()) if status else None), window
    status = _STATUS.search(body)
    return (".".join(status.groups()) if status else None), ""
