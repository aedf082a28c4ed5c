"""Hook implementations: the "Kopie in Gesendet" section, the copier the outbox asks after
every accepted message, the test e-mail's copy step log, and its explanations."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from falcana_core.api import hookimpl

if TYPE_CHECKING:
    from falcana_smtp_settings.api import TestPart

    from falcana_core.api import DeliveryFailure, Explanation, Host, Mailbox, Section
    from falcana_core.api.net import RegisterClient
    from falcana_core.api.transport import FollowUp


@hookimpl
def user_settings_sections(host: Host) -> list[Section]:
    from falcana_sent_copy.section import SentCopySection

    return [SentCopySection()]


@hookimpl
def after_delivery(host: Host, mailbox: Mailbox) -> list[FollowUp]:
    from falcana_sent_copy.copier import copier_for

    copier = copier_for(host, mailbox)
    return [copier] if copier is not None else []


@hookimpl
def smtp_test_sent(host: Host, mailbox: Mailbox, content: bytes,
                   message_id: str) -> TestPart | None:
    from falcana_sent_copy.testpart import test_part

    return test_part(host, mailbox, content, message_id)


@hookimpl
def explain_delivery_error(failure: DeliveryFailure) -> Explanation | None:
    from falcana_sent_copy.explain import explain

    return explain(failure)


@hookimpl
def step_labels() -> dict[str, Any]:
    from falcana_sent_copy.steps import STEP_LABELS

    return STEP_LABELS


@hookimpl
def register_outgoing_clients(register: RegisterClient) -> None:
    register("imap.copy", "the copy in Sent: IMAP LOGIN, LIST, SEARCH, APPEND (test and worker)")
