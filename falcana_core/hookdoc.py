"""The hook reference (docs/hooks.md), generated from the hookspecs.

A test compares the page with what this module renders, so the documentation cannot fall
behind the code: ``uv run python -m falcana_core.hookdoc > docs/hooks.md``.
"""

from __future__ import annotations

import inspect
from types import ModuleType


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


INTRO = """# Hook reference

Every hook a plugin can implement, with its exact signature and how the host calls it.
This page is generated from the hookspecs (`uv run python -m falcana_core.hookdoc >
docs/hooks.md`) and `tests/test_hook_reference.py` fails when it differs from them, so it
is always current.

Implement a hook with the `hookimpl` marker from `falcana_core.api`; take only the
arguments you need, and never give them default values (pluggy ignores defaults):

```python
from falcana_core.api import hookimpl

@hookimpl
def user_actions(host):
    ...
```

One dispatcher calls every hook, the core's and those a plugin publishes, the same way:

* Implementations run one by one in **plugin-name order**. A plugin that raises is logged
  and skipped, and the other plugins' results still arrive (unless the hook says its
  exceptions reach the caller). Implementations may not be wrappers.
* **Collected** hooks gather every result other than `None` as `(plugin, item)` pairs; a
  returned list is taken item by item. Items are ordered by their `order` attribute where
  they have one (else 100), then by plugin name.
* **First-result** hooks stop at the first implementation that returns something other
  than `None`; later ones are not called.
* **Chained** hooks hand each result other than `None` to the next implementation as the
  named argument; the last value is the result.

Each implementation runs through pluggy's public `subset_hook_caller`, so
`pm.add_hookcall_monitoring` sees every call; `FALCANA_TRACE_PLUGINS=1` logs each call
(hook, plugin, argument names, result types, never values) on the logger `falcana.trace`.

The types named in the signatures are importable from `falcana_core.api` and
`falcana_core.api.transport` (the core's), or
from the API of the plugin that publishes the hook. Each plugin's section starts with what
its hooks are for.
"""


CORE_HEADING = "Core hooks (`falcana_core/hookspecs.py`)"


def mode_of(fn: object) -> str:
    opts = getattr(fn, "falcana_spec", {}) or {}
    chain = getattr(fn, "falcana_chain", None)
    if opts.get("firstresult"):
        mode = "First result."
    elif chain:
        mode = f"Chained through `{chain}`."
    else:
        mode = "Collected."
    if not getattr(fn, "falcana_isolate", True):
        mode += " Exceptions reach the caller."
    return mode


def render(sources: list[tuple[str, ModuleType]]) -> str:
    """The hook reference: ``sources`` are (heading, hookspec module) pairs."""
    parts = [INTRO]
    for heading, module in sources:
        parts.append(f"## {heading}\n")
        if module.__doc__ and heading != CORE_HEADING:
            parts.append(inspect.cleandoc(module.__doc__) + "\n")
        for name, fn in sorted(inspect.getmembers(module, inspect.isfunction),
                               key=lambda nf: inspect.getsourcelines(nf[1])[1]):
            if getattr(fn, "falcana_spec", None) is None:
                continue
            parts.append(f"### `{name}`\n\n*{mode_of(fn)}*\n\n```python\n{signature(fn)}\n```"
                         f"\n\n{inspect.getdoc(fn) or ''}\n")
    return "\n".join(parts)


def first_party_sources() -> list[tuple[str, ModuleType]]:
    """The core's hookspecs, then each enabled plugin's published hookspecs."""
    import importlib

    from falcana_core import hookspecs
    from falcana_core.plugins import Plugins, Status

    plugins = Plugins()
    plugins.load(blocked=set())
    sources: list[tuple[str, ModuleType]] = [(CORE_HEADING, hookspecs)]
    for info in plugins.all():
        if info.status is Status.ENABLED and info.manifest and info.manifest.hookspecs:
            module = importlib.import_module(info.manifest.hookspecs)
            path = info.manifest.hookspecs.replace(".", "/")
            sources.append((f"Hooks of the {info.name} plugin (`{path}.py`)", module))
    return sources


if __name__ == "__main__":
    print(render(first_party_sources()), end="")
