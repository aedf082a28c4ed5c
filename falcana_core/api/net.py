"""The outgoing-connection gate, for plugins that connect out: every connection goes
through the deployment's destination policy, the one trust store, a deadline enforced by
the watchdog and cancelled on SIGTERM, and a size limit on what is read."""

from __future__ import annotations

from typing import TYPE_CHECKING

from falcana_core.lazy import exports

if TYPE_CHECKING:
    from falcana_core.net.cancellation import cancellation
    from falcana_core.net.guard import (
        AnswerTooLarge,
        ConnectionGuard,
        DeadlineExceeded,
        RegisterClient,
        Stopped,
    )
    from falcana_core.net.http import HttpAnswer, HttpFailure, PolicyHttp, classify
    from falcana_core.net.policy import (
        DestinationRefused,
        NetPolicy,
        connect,
        make_resolver,
        tls_context,
    )
    from falcana_core.net.watchdog import watchdog
else:  # names load on first use; type checkers read the imports above
    __getattr__, __dir__, __all__ = exports(__name__, __file__)
