"""For plugins that bring a way of sending (hook ``register_transports``), a step after
delivery (hook ``after_delivery``) or periodic work of the worker (hook
``worker_duties``): the transport's protocol, the message as it goes out, the limits a
provider declares, and the outbox's durable steps."""

from __future__ import annotations

from typing import TYPE_CHECKING

from falcana_core.lazy import exports

if TYPE_CHECKING:
    from falcana_core.bulk import insert_if_missing
    from falcana_core.duties import Duty
    from falcana_core.hookspecs import RegisterTransport
    from falcana_core.messages import envelope, stamp
    from falcana_core.transports import (
        Connection,
        Delivered,
        DeliveryError,
        Envelope,
        FollowUp,
        Limits,
        SendResult,
        Transport,
    )
else:  # names load on first use; type checkers read the imports above
    __getattr__, __dir__, __all__ = exports(__name__, __file__)
