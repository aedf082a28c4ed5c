"""docs/hooks.md documents every hookspec (core and plugins) with its exact signature."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

from falcana_core import hookspecs
from falcana_core.hookdoc import hookspecs_of
from falcana_core.plugins import Plugins, Status

DOC = Path(__file__).parent.parent / "docs" / "hooks.md"


def all_hookspec_modules() -> list[object]:
    plugins = Plugins()
    plugins.load(blocked=set())
    modules = [hookspecs]
    for info in plugins.all():
        if info.status is Status.ENABLED and info.manifest and info.manifest.hookspecs:
            modules.append(importlib.import_module(info.manifest.hookspecs))
    return modules


def documented() -> dict[str, str]:
    """hook name -> the signature line in the code block under its heading."""
    text = DOC.read_text(encoding="utf-8")
    found = {}
    for m in re.finditer(r"^### `(\w+)`\n(.*?)(?=^### |^## |\Z)", text, re.M | re.S):
        block = re.search(r"```python\n(.*?)\n```", m.group(2), re.S)
        found[m.group(1)] = block.group(1).strip() if block else ""
    return found


def test_every_hookspec_is_documented_with_its_signature() -> None:
    docs = documented()
    specs = {name: sig for mod in all_hookspec_modules()
             for name, sig, _doc, _first in hookspecs_of(mod)}  # type: ignore[arg-type]
    assert len(specs) >= 16
    missing = sorted(set(specs) - set(docs))
    assert not missing, f"hooks missing from docs/hooks.md: {missing}"
    differ = {n: (specs[n], docs[n]) for n in specs if specs[n] != docs[n]}
    assert not differ, f"signatures differ (code, docs): {differ}"
    stale = sorted(set(docs) - set(specs))
    assert not stale, f"docs/hooks.md documents hooks that do not exist: {stale}"


def test_every_hookspec_has_a_docstring() -> None:
    for mod in all_hookspec_modules():
        for name, _sig, doc, _first in hookspecs_of(mod):  # type: ignore[arg-type]
            assert len(doc) > 40, f"hookspec {name} needs a docstring"
