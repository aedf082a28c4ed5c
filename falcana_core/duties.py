"""Work a plugin gives the worker, per mailbox, on a cadence of its own (hook
``worker_duties``): reading a mailbox's inbox for delivery reports, say.

The worker asks each duty what is ``due`` beside its sending, a few at a time, takes each
with ``claim`` (one UPDATE only one worker can win: on PostgreSQL several workers share
the work without doing it twice) and does it with ``run``, in a slot of its own, within
its concurrency. A duty is the plugin's: its table, its cadence, its connections (under
the same outgoing-connection rules as every other client).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from falcana_core.models import Mailbox


class Duty(Protocol):
    #: a stable name, "bounces.look": the worker's log and counts
    name: str

    def due(self, now: dt.datetime, limit: int) -> Sequence[int]:
        """Up to ``limit`` mailboxes whose turn has come, the longest waiting first."""
        ...

    def claim(self, mailbox_id: int, now: dt.datetime, lease: float) -> bool:
        """Take it for ``lease`` seconds, or False when another worker has it."""
        ...

    def run(self, mailbox: Mailbox, now: dt.datetime, cancelled: Callable[[], bool]) -> int:
        """Do it and set its next time from ``now`` (the worker's clock); ``cancelled()``
        turns True when the worker stops. Returns how much was done (the counts)."""
        ...
