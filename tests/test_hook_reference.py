"""docs/hooks.md is generated from the hookspecs (core and plugins) and stays so; the typed
facade names the core's hooks exactly as the hookspecs do."""

from __future__ import annotations

import inspect
from pathlib import Path

from falcana_core import hookspecs
from falcana_core.hookdoc import first_party_sources, render
from falcana_core.plugins import Hooks

DOC = Path(__file__).parent.parent / "docs" / "hooks.md"


def test_hooks_md_is_what_the_hookspecs_say() -> None:
    expected = render(first_party_sources())
    assert DOC.read_text(encoding="utf-8") == expected, (
        "docs/hooks.md is out of date: uv run python -m falcana_core.hookdoc > docs/hooks.md")


def test_every_hookspec_has_a_docstring() -> None:
    for _heading, module in first_party_sources():
        for name, fn in inspect.getmembers(module, inspect.isfunction):
            if getattr(fn, "falcana_spec", None) is not None:
                assert len(inspect.getdoc(fn) or "") > 40, f"hookspec {name} needs a docstring"


def test_the_facade_has_a_method_per_core_hook_with_its_parameters() -> None:
    specs = {n: f for n, f in inspect.getmembers(hookspecs, inspect.isfunction)
             if getattr(f, "falcana_spec", None) is not None}
    assert len(specs) >= 10  # the core's own; provider vocabulary is smtp_settings'
    for name, spec in specs.items():
        method = getattr(Hooks, name, None)
        assert method is not None, f"Hooks has no method {name}"
        expected = list(inspect.signature(spec).parameters)
        if name in ("register_transports", "register_outgoing_clients"):  # the facade
            # passes the register function itself
            expected = []
        assert list(inspect.signature(method).parameters)[1:] == expected, name
