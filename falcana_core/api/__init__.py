"""The plugin API: what a plugin may use of the core, and nothing else.

Plugins import from here (and from ``.transport`` to bring a way of sending or a step
after delivery, ``.net`` to open a connection, ``.web`` for routes and pages, ``.cli`` for
commands) only; a test holds the first-party plugins and the example
to it, so the modules behind these names may move without breaking a plugin. Names load
on first use (``falcana_core.lazy``), each listed once below.

    from falcana_core.api import HelpText, Validation, hookimpl
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from falcana_core import hookimpl, hookspec
from falcana_core.lazy import exports

if TYPE_CHECKING:
    from falcana_core.addresses import (
        AddressError,
        ascii_address,
        has_control_chars,
        normalise_address,
        normalise_host,
        split_address,
    )
    from falcana_core.config import Config
    from falcana_core.delivery import (
        DeliveryFailure,
        Explanation,
        FailureKind,
        Reply,
        Retry,
        Scope,
        Step,
        StepProblem,
        StepStatus,
        printable,
    )
    from falcana_core.health import HealthReport, HealthState, Notice
    from falcana_core.i18n import Domain, LazyText, Text, current_language, text_in
    from falcana_core.lazy import exports as lazy_exports
    from falcana_core.migrate import run_env
    from falcana_core.models import Base, Mailbox, User, utcnow
    from falcana_core.secretbox import SecretValue
    from falcana_core.sections import (
        Action,
        Choice,
        Field,
        FieldType,
        HelpText,
        Section,
        SectionContext,
        ShownSection,
        Validation,
    )
    from falcana_core.sections import PluginHost as Host
else:  # names load on first use; type checkers read the imports above
    __getattr__, __dir__, __all__ = exports(__name__, __file__)
