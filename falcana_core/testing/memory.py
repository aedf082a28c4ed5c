"""A transport that keeps what it is given, for tests of the outbox and of host code that
need no mail server (like Django's locmem e-mail backend), and a step after delivery that
counts what it did.

    with register_plugin(memory := MemoryTransport(), "memory"):
        box = memory.mailbox(host, "info@firma.example")
        host.outbox.enqueue(box, message); Worker(host).run_once()
        memory.sent                       # the envelopes, as the outbox stored them

``memory.fail_next(...)`` makes the next sends (or opens) fail as a real transport's
would: a ``DeliveryError`` with an explanation the outbox acts on (defer, fail, pause).
"""

from __future__ import annotations

import dataclasses
import email
import email.policy
import threading
from collections.abc import Sequence
from email.message import EmailMessage
from typing import TYPE_CHECKING

from falcana_core import hookimpl
from falcana_core.delivery import (
    DeliveryFailure,
    Explanation,
    FailureKind,
    Retry,
    Scope,
    Step,
    StepStatus,
)
from falcana_core.transports import (
    Delivered,
    DeliveryError,
    Envelope,
    FollowUp,
    Limits,
    SendResult,
)

if TYPE_CHECKING:
    from falcana_core.hookspecs import RegisterTransport
    from falcana_core.host import Host
    from falcana_core.models import Mailbox

NAME = "memory"


@dataclasses.dataclass
class Failure:
    """What the next ``times`` deliveries (or, with ``at_open``, connections) answer."""

    retry: Retry
    scope: Scope
    times: int
    at_open: bool
    outcome_unknown: bool


class MemoryTransport:
    """The plugin: register it, give a mailbox the transport ``"memory"``, send."""

    def __init__(self, limits: Limits | None = None) -> None:
        self.sent: list[Envelope] = []
        self.opened = 0
        self.limits = limits
        self.followed: list[str] = []  # message ids the step after delivery saw
        self.follow_failures = 0  # the step after delivery fails this many times first
        self._failures: list[Failure] = []
        self._lock = threading.Lock()

    # -- the plugin ----------------------------------------------------------------------

    @hookimpl
    def register_transports(self, register: RegisterTransport) -> None:
        register(NAME, lambda host, mailbox: _Transport(self))

    @hookimpl
    def after_delivery(self, host: Host, mailbox: Mailbox) -> list[FollowUp]:
        return [_Count(self)] if mailbox.transport == NAME else []

    # -- for the test --------------------------------------------------------------------

    def mailbox(self, host: Host, address: str) -> Mailbox:
        """A shared mailbox that sends through this transport."""
        from falcana_core.models import Mailbox

        box = host.mailboxes.create_shared(address, actor="test")
        with host.transaction() as s:
            row = s.get(Mailbox, box.id)
            assert row is not None
            row.transport = NAME
        found = host.mailboxes.get(box.id)
        assert found is not None
        return found

    def fail_next(self, *, retry: Retry = Retry.LATER, scope: Scope = Scope.MESSAGE,
                  times: int = 1, at_open: bool = False,
                  outcome_unknown: bool = False) -> None:
        with self._lock:
            self._failures.append(Failure(retry, scope, times, at_open, outcome_unknown))

    def _failure(self, *, at_open: bool) -> DeliveryError | None:
        with self._lock:
            for failure in self._failures:
                if failure.at_open == at_open and failure.times > 0:
                    failure.times -= 1
                    return error(failure.retry, failure.scope,
                                 outcome_unknown=failure.outcome_unknown)
        return None


def error(retry: Retry, scope: Scope, *, outcome_unknown: bool = False) -> DeliveryError:
    """A delivery error as a transport raises it, explained."""
    failure = DeliveryFailure("send", FailureKind.OTHER, detail="memory transport told so")
    explanation = Explanation(f"memory.{retry.value}.{scope.value}", "told to fail",
                              "nothing", retry=retry, scope=scope)
    return DeliveryError(failure, explanation, [Step("send", StepStatus.FAILED, 0.0)],
                         outcome_unknown=outcome_unknown)


class _Transport:
    def __init__(self, memory: MemoryTransport) -> None:
        self.memory = memory

    def open(self, *, deadline: float | None = None) -> _Connection:
        failed = self.memory._failure(at_open=True)
        if failed is not None:
            raise failed
        with self.memory._lock:
            self.memory.opened += 1
        return _Connection(self.memory)

    def limits(self) -> Limits | None:
        return self.memory.limits


class _Connection:
    def __init__(self, memory: MemoryTransport) -> None:
        self.memory = memory
        self.steps: list[Step] = []

    def send(self, message: EmailMessage) -> SendResult:
        recipients = [a for h in ("To", "Cc", "Bcc") for a in message.get_all(h, [])]
        del message["Bcc"]
        return self.send_envelope(Envelope(
            str(message["From"]), recipients,
            message.as_bytes(policy=email.policy.SMTP), str(message["Message-ID"])))

    def send_envelope(self, envelope: Envelope) -> SendResult:
        self.steps = [Step("send", StepStatus.OK, 0.0)]
        failed = self.memory._failure(at_open=False)
        if failed is not None:
            raise failed
        with self.memory._lock:
            self.memory.sent.append(envelope)
        return SendResult(envelope.message_id, list(envelope.recipients))

    def close(self) -> None:
        pass


class _Count:
    """A step after delivery that notes the message id (and fails when told to)."""

    duty = "memory_count"
    max_attempts = 3

    def __init__(self, memory: MemoryTransport) -> None:
        self.memory = memory

    def run(self, messages: Sequence[Delivered]) -> list[DeliveryError | None]:
        results: list[DeliveryError | None] = []
        with self.memory._lock:
            for message in messages:
                if self.memory.follow_failures > 0:
                    self.memory.follow_failures -= 1
                    results.append(error(Retry.LATER, Scope.MESSAGE))
                    continue
                if not (message.look_first and message.message_id in self.memory.followed):
                    self.memory.followed.append(message.message_id)
                results.append(None)
        return results

    def close(self) -> None:
        pass


def parse(envelope: Envelope) -> EmailMessage:
    """The message an envelope carries."""
    message = email.message_from_bytes(envelope.content, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message
