"""For plugins that add commands to ``falcana`` (hook ``register_commands``): the host of
the running command and the command line's ways to fail, print and read a secret."""

from __future__ import annotations

from typing import TYPE_CHECKING

from falcana_core.lazy import exports

if TYPE_CHECKING:
    from falcana_core.cli_support import (
        echo_input_errors,
        fail,
        host,
        mailbox,
        print_json,
        read_secret,
        start_host,
    )
    from falcana_core.health_cli import health_command
else:  # names load on first use; type checkers read the imports above
    __getattr__, __dir__, __all__ = exports(__name__, __file__)
