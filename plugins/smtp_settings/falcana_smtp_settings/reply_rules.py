"""A small table-driven matcher for provider plugins' reply explanations.

Providers' replies carry extra text, trailing server ids and several lines; a rule matches
on code, enhanced status code and the distinguishing words only.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

from falcana_core.api import DeliveryFailure, Explanation, FailureKind, Retry, Scope, Text

#: A provider's explanation of its exact reply ranks above the generic ones (5 to 30).
PROVIDER_SPECIFICITY = 90


def provider_explanation(id_: str, cause: Text, fix: Text, *, field: str | None = None,
                         retry: Retry = Retry.AFTER_FIX, scope: Scope = Scope.MAILBOX,
                         retry_after: int | None = None,
                         links: tuple[tuple[Text, str], ...] = ()) -> Explanation:
    """An explanation with provider specificity; most provider problems concern the mailbox."""
    return Explanation(id_, cause, fix, field, retry, scope, PROVIDER_SPECIFICITY,
                       retry_after, links)


@dataclasses.dataclass(frozen=True)
class ReplyRule:
    code: int | None
    enhanced: str | None
    words: Sequence[str]
    explanation: Explanation
    #: True when the reply is distinctive enough to match without a recognised provider
    distinctive: bool = False
    steps: Sequence[str] = ()  # restrict to these steps (empty: any)
    auth: str | None = None  # only for this sign-in, e.g. "XOAUTH2" (failure.data["auth"])


def explain_by_rules(failure: DeliveryFailure, rules: Sequence[ReplyRule],
                     is_ours: Callable[[DeliveryFailure], bool]) -> Explanation | None:
    """The first rule that matches the failure's reply (rules go from specific to generic)."""
    reply = failure.reply
    if failure.kind is not FailureKind.REPLY or reply is None:
        return None
    ours = is_ours(failure)
    for rule in rules:
        if not (ours or rule.distinctive):
            continue
        if rule.steps and failure.step not in rule.steps:
            continue
        if rule.auth is not None and failure.data.get("auth") != rule.auth:
            continue
        if reply.matches(rule.code, rule.enhanced, *rule.words):
            return rule.explanation
    return None
