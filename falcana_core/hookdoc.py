"""Signatures of hookspecs as the hook reference (docs/hooks.md) writes them.

A test compares every hookspec of the core and of the plugins with the reference, so the
documentation cannot fall behind the code.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from types import ModuleType


def hookspecs_of(module: ModuleType) -> Iterator[tuple[str, str, str, bool]]:
    """(name, signature, docstring, firstresult) of each hookspec in a module."""
    for name, fn in inspect.getmembers(module, inspect.isfunction):
        opts = getattr(fn, "falcana_spec", None)
        if opts is None:
            continue
        yield name, signature(fn), inspect.getdoc(fn) or "", bool(opts.get("firstresult"))


def signature(fn: object) -> str:
    """``name(arg: Type, ...) -> Return`` with the annotations as written in the source."""
    sig = inspect.signature(fn)  # type: ignore[arg-type]
    params = ", ".join(
        f"{p.name}: {_ann(p.annotation)}" if p.annotation is not inspect.Parameter.empty
        else p.name for p in sig.parameters.values())
    ret = "" if sig.return_annotation is inspect.Signature.empty else (
        f" -> {_ann(sig.return_annotation)}")
    return f"{fn.__name__}({params}){ret}"  # type: ignore[attr-defined]


def _ann(annotation: object) -> str:
    return " ".join(annotation.split()) if isinstance(annotation, str) else repr(annotation)
