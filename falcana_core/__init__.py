"""falcana mail: send e-mail as each user, through that user's own mailbox.

This package is the host core. It imports no plugin and stays light to import: the
heavy parts (database, web, SMTP) are loaded by the modules that need them.
"""

from __future__ import annotations

import pluggy

__version__ = "0.1.0"

#: The pluggy project name; plugins mark their hook implementations with ``hookimpl``.
PROJECT = "falcana"

hookimpl = pluggy.HookimplMarker(PROJECT)
hookspec = pluggy.HookspecMarker(PROJECT)

__all__ = ["PROJECT", "__version__", "hookimpl", "hookspec"]
