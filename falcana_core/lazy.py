"""Names a module offers without importing what is behind them until first use.

The module lists its names once, as imports under ``if TYPE_CHECKING:`` (what type
checkers and readers see); ``exports(__name__, __file__)`` reads that block and loads each
name from its module on first access, so importing the plugin API stays as light as
importing ``falcana_core``.
"""

from __future__ import annotations

import ast
import importlib
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _declared(path: str) -> dict[str, tuple[str, str]]:
    """``public name -> (module, attribute)`` from the ``if TYPE_CHECKING:`` imports."""
    tree = ast.parse(Path(path).read_text(encoding="utf-8"))
    found: dict[str, tuple[str, str]] = {}
    for node in tree.body:
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            for statement in node.body:
                if isinstance(statement, ast.ImportFrom) and statement.module:
                    for alias in statement.names:
                        found[alias.asname or alias.name] = (statement.module, alias.name)
    return found


def exports(module_name: str, path: str) -> tuple[Callable[[str], Any],
                                                 Callable[[], list[str]], list[str]]:
    """``__getattr__``, ``__dir__`` and ``__all__`` for a module of lazy names."""
    declared = _declared(path)
    module = sys.modules[module_name]
    eager = [n for n in vars(module) if not n.startswith("_") and n not in {
        "annotations", "TYPE_CHECKING", "Any", "exports", "lazy_exports"}
        and not isinstance(vars(module)[n], type(sys))]
    names = sorted({*declared, *eager})

    def getattr_(name: str) -> Any:
        where = declared.get(name)
        if where is None:
            raise AttributeError(f"{module_name} has no {name!r}")
        value = getattr(importlib.import_module(where[0]), where[1])
        setattr(module, name, value)  # later look-ups are plain attribute reads
        return value

    def dir_() -> list[str]:
        return names

    return getattr_, dir_, names
