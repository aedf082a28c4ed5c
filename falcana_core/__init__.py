"""falcana mail: send e-mail as each user, through that user's own mailbox.

This package is the host core. It imports no plugin and stays light to import: the
heavy parts (database, web, SMTP) are loaded by the modules that need them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, overload

import pluggy

__version__ = "0.1.0"

#: The pluggy project name; plugins mark their hook implementations with ``hookimpl``.
PROJECT = "falcana"

hookimpl = pluggy.HookimplMarker(PROJECT)
_pluggy_hookspec = pluggy.HookspecMarker(PROJECT)

F = TypeVar("F", bound=Callable[..., object])


@overload
def hookspec(function: F) -> F: ...


@overload
def hookspec(*, firstresult: bool = ..., chain: str | None = ...,
             isolate: bool = ...) -> Callable[[F], F]: ...


def hookspec(function: F | None = None, *, firstresult: bool = False,
             chain: str | None = None, isolate: bool = True) -> Any:
    """Mark a hookspec; how the host calls it is part of the spec.

    * default: *collecting*, every enabled plugin's result is gathered;
    * ``firstresult=True``: the first result other than ``None`` wins, later
      implementations are not called;
    * ``chain="arg"``: each result other than ``None`` replaces ``arg`` for the next
      implementation; the last value is the hook's result.

    ``isolate=False``: an implementation's exception reaches the caller, for hooks whose
    contract is to raise (a refused login); otherwise it is logged and the implementation
    skipped, so one broken plugin never takes the others down.
    """

    def mark(fn: F) -> F:
        fn.falcana_chain = chain  # type: ignore[attr-defined]
        fn.falcana_isolate = isolate  # type: ignore[attr-defined]
        marked: F = _pluggy_hookspec(firstresult=firstresult)(fn)
        return marked

    return mark(function) if function is not None else mark

__all__ = ["PROJECT", "__version__", "hookimpl", "hookspec"]
