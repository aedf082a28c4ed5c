"""The result of talking to a mail server: replies, the step log, explanations.

Step ids and explanation ids are stable: the UI, the CLI's ``--json``, the outbox and
provider plugins all rely on them.
"""

from __future__ import annotations

import dataclasses
import enum
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from falcana_core.i18n import Domain, Text, text_in

_ = Domain("core", Path(__file__).parent / "locale")

def step_label(labels: Mapping[str, Text], step_id: str) -> Text:
    """A step's name for people (the id stays the stable key), from the labels plugins
    give their steps (hook ``step_labels``). Another protocol's steps carry its name as a
    prefix ("imap.login"): "IMAP: Anmeldung"."""
    if step_id in labels:
        return labels[step_id]
    protocol, _dot, step = step_id.partition(".")
    if step and step in labels:
        return _("{protocol}: {step}", protocol=protocol.upper(), step=labels[step])
    return step_id


_ENHANCED = re.compile(r"^([245]\.\d{1,3}\.\d{1,3})\b\s*")
MAX_SHOWN = 2000  # characters of a server's words kept for the step log


def printable(text: str, limit: int = MAX_SHOWN) -> str:
    """What a server said, safe to show anywhere: control characters (ESC sequences,
    NUL, bidi overrides) dropped, and at most ``limit`` characters."""
    clean = "".join(ch if ch.isprintable() else " " for ch in text[: limit * 2])
    clean = " ".join(clean.split())
    return clean if len(clean) <= limit else clean[: limit - 1] + "…"



@dataclasses.dataclass(frozen=True)
class Reply:
    """An SMTP reply as received: code, enhanced status code and the text, lines joined."""

    code: int
    enhanced: str | None
    text: str

    @classmethod
    def parse(cls, code: int, message: bytes | str) -> Reply:
        """From smtplib's (code, message): strips the enhanced code repeated on each line."""
        raw = message.decode("utf-8", "replace") if isinstance(message, bytes) else message
        enhanced = None
        lines = []
        for line in raw.splitlines() or [""]:
            m = _ENHANCED.match(line)
            if m:
                enhanced = enhanced or m.group(1)
                line = line[m.end() :]
            lines.append(line.strip())
        return cls(code, enhanced, printable(" ".join(x for x in lines if x)))

    def __str__(self) -> str:
        return " ".join(str(x) for x in (self.code, self.enhanced, self.text) if x)

    def matches(self, code: int | None = None, enhanced: str | None = None,
                *words: str) -> bool:
        """True when code, enhanced status and every word (case-insensitive) match."""
        if code is not None and self.code != code:
            return False
        if enhanced is not None and self.enhanced != enhanced:
            return False
        low = self.text.lower()
        return all(w.lower() in low for w in words)


class StepStatus(enum.StrEnum):
    OK = "ok"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclasses.dataclass
class Step:
    id: str
    status: StepStatus
    duration_ms: float
    reply: Reply | None = None
    detail: dict[str, Any] = dataclasses.field(default_factory=dict)


class Retry(enum.StrEnum):
    NO = "no"  # permanent: retrying the same thing fails the same way
    LATER = "later"  # transient: retrying later may succeed
    AFTER_FIX = "after_fix"  # retry once the named setting was changed


class Scope(enum.StrEnum):
    MESSAGE = "message"
    RECIPIENT = "recipient"
    MAILBOX = "mailbox"  # concerns every message of the mailbox (password, quota, Send As)
    #: concerns every mailbox of the sender's domain: a provider's limit for a whole
    #: organisation (Microsoft's tenant-wide external recipient limit); a domain belongs
    #: to one organisation, so its mailboxes wait together
    DOMAIN = "domain"


@dataclasses.dataclass(frozen=True)
class Explanation:
    """Why a delivery failed and what to do, in the admin's language.

    ``specificity`` ranks explanations of the same failure: a provider's explanation of
    its exact reply (e.g. 90) beats the generic one (10).
    """

    id: str
    cause: Text
    fix: Text
    field: str | None = None
    retry: Retry = Retry.NO
    scope: Scope = Scope.MESSAGE
    specificity: int = 10
    retry_after_seconds: int | None = None
    links: Sequence[tuple[Text, str]] = ()

    def as_dict(self, lang: str) -> dict[str, Any]:
        return {
            "id": self.id,
            "cause": text_in(self.cause, lang),
            "fix": text_in(self.fix, lang),
            "field": self.field,
            "retry": self.retry.value,
            "retry_after_seconds": self.retry_after_seconds,
            "scope": self.scope.value,
            "links": [{"label": text_in(label, lang), "url": url} for label, url in self.links],
        }


class FailureKind(enum.StrEnum):
    """What went wrong, below the level of an SMTP reply."""

    REPLY = "reply"  # the server answered with an error reply
    DNS = "dns"
    REFUSED = "refused"
    UNREACHABLE = "unreachable"
    TIMEOUT = "timeout"
    CLOSED = "closed"  # the server closed the connection
    TLS_VERIFY = "tls_verify"
    TLS_PROTOCOL = "tls_protocol"
    PIN_MISMATCH = "pin_mismatch"
    NOT_OFFERED = "not_offered"  # STARTTLS, AUTH or SMTPUTF8 not in EHLO
    NO_CREDENTIALS = "no_credentials"
    TOKEN = "token"
    POLICY = "policy"  # the deployment's destination policy refused the server or port
    NOT_SMTP = "not_smtp"  # something answered, but not an SMTP server
    OTHER = "other"


@dataclasses.dataclass(frozen=True)
class DeliveryFailure:
    """A failed step, as handed to the ``explain_delivery_error`` hook."""

    step: str
    kind: FailureKind
    reply: Reply | None = None
    detail: str = ""  # a short technical description (never a secret)
    host: str = ""
    port: int = 0
    security: str = ""
    address: str = ""
    username: str = ""
    provider: str | None = None
    data: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "detail", printable(self.detail))


class StepProblem(Exception):
    """A problem a plugin raises inside a step of the step log (say, no valid token): it
    becomes a failure of ``kind`` with ``detail`` and ``data`` for explanations to match.
    Never put a secret into any of them."""

    def __init__(self, kind: FailureKind, detail: str,
                 data: dict[str, Any] | None = None) -> None:
        super().__init__(f"{kind.value}: {detail}")
        self.kind = kind
        self.detail = detail
        self.data = dict(data or {})


def best_explanation(candidates: Sequence[tuple[str, Explanation]]) -> Explanation | None:
    """The most specific explanation; ties go to the plugin name, never load order."""
    if not candidates:
        return None
    return sorted(candidates, key=lambda pe: (-pe[1].specificity, pe[0], pe[1].id))[0][1]
