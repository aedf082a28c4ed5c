"""The mail transport interface: how the host sends through a mailbox without knowing SMTP.

A transport declares everything the outbox's worker and a test mail use of it (its
limits, a connection's ``send_envelope`` and step log), so nothing is probed for.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from email.message import EmailMessage
from typing import TYPE_CHECKING, Protocol

from falcana_core.delivery import DeliveryFailure, Explanation, Step

if TYPE_CHECKING:
    pass


@dataclasses.dataclass
class SendResult:
    """The outcome of one message: refused recipients are listed with their reply."""

    message_id: str
    accepted: list[str]
    refused: dict[str, str] = dataclasses.field(default_factory=dict)


class DeliveryError(Exception):
    """A delivery failed at a known step; carries the explanation, never a secret."""

    def __init__(self, failure: DeliveryFailure, explanation: Explanation | None,
                 steps: Sequence[Step] = (), *, outcome_unknown: bool = False) -> None:
        self.failure = failure
        self.explanation = explanation
        self.steps = list(steps)
        #: True when the connection broke after DATA began: the message may have arrived.
        self.outcome_unknown = outcome_unknown
        reply = f": {failure.reply}" if failure.reply else ""
        super().__init__(f"delivery failed at step {failure.step} ({failure.kind}){reply}")


@dataclasses.dataclass(frozen=True)
class Envelope:
    """A message ready to go, as the outbox stores it: no parsing needed to send it."""

    sender: str  # the mailbox address
    recipients: Sequence[str]  # To, Cc and Bcc
    content: bytes  # the message as it goes on the wire (without Bcc)
    message_id: str
    smtputf8: bool = False  # an address needs SMTPUTF8


class Connection(Protocol):
    """An open, authenticated connection that sends several messages.

    ``steps`` is the step log of the last exchange (opening, or the last message): a test
    mail shows it. ``send_envelope`` sends a message as the outbox stored it (no parsing);
    ``send`` a message the host application built."""

    @property
    def steps(self) -> list[Step]: ...

    def send(self, message: EmailMessage) -> SendResult: ...

    def send_envelope(self, envelope: Envelope) -> SendResult: ...

    def close(self) -> None: ...


@dataclasses.dataclass(frozen=True)
class Limits:
    """Sending limits per mailbox; None means "no declared limit"."""

    max_connections: int | None = None
    messages_per_minute: int | None = None
    messages_per_day: int | None = None
    recipients_per_message: int | None = None
    recipients_per_day: int | None = None


@dataclasses.dataclass(frozen=True)
class Delivered:
    """A message the server accepted, handed to a step after delivery."""

    outbox_id: int
    content: bytes  # exactly as it went out
    message_id: str
    sent_at: dt.datetime
    #: an earlier attempt may have done it already (it failed, or its worker died):
    #: look before doing it again
    look_first: bool


class FollowUp(Protocol):
    """A durable step after a message was delivered (hook ``after_delivery``): the copy
    in Sent today, any plugin's work tomorrow. It never sends the mail again.

    ``duty`` names it, stable (the outbox stores a row per message and duty). ``run``
    does it for a batch of a mailbox's messages (up to the outbox's batch, oldest first)
    and returns one result per message, in order: None when done, a ``DeliveryError``
    (with an explanation) to be tried again later, up to ``max_attempts`` times. A message
    with ``look_first`` must be looked for before it is done again, so nothing is done
    twice. ``close`` ends what a pass kept open (a connection)."""

    @property
    def duty(self) -> str: ...

    @property
    def max_attempts(self) -> int: ...

    def run(self, messages: Sequence[Delivered]) -> Sequence[DeliveryError | None]: ...

    def close(self) -> None: ...


class Transport(Protocol):
    """Opens connections for one mailbox, and says within which limits it may send (its
    provider's: connections, messages per minute and day; None: the outbox's defaults)."""

    def open(self, *, deadline: float | None = None) -> Connection:
        """``deadline`` (``time.monotonic()``): the end of the work in hand (a test
        e-mail), for opening and every message sent before it; None: opening within
        ``FALCANA_TEST_DEADLINE`` and each message within ``FALCANA_SEND_DEADLINE`` (the
        worker). Never chosen by the protocol."""
        ...

    def limits(self) -> Limits | None: ...
