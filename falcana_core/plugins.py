"""Plugin discovery, dependency resolution and loading, and the typed facade over ``pm.hook``.

Plugins are entry points of the group ``falcana``; first-party plugins load exactly like a
third party's. Loading never lets one plugin take the host down: a plugin whose import
raises, whose dependency is missing or cyclic, or whose hookimpl matches no hookspec, is
reported by name and disabled together with its dependents.
"""

from __future__ import annotations

import dataclasses
import enum
import graphlib
import importlib
import importlib.metadata
import logging
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pluggy

from falcana_core import PROJECT, hookspecs
from falcana_core.manifests import Manifest, ManifestError, package_dir, read_manifest

if TYPE_CHECKING:
    from pathlib import Path

    import click

    from falcana_core.delivery import DeliveryFailure, Explanation
    from falcana_core.duties import Duty
    from falcana_core.health import HealthReport, HealthState, Notice
    from falcana_core.hookspecs import TransportFactory
    from falcana_core.i18n import Text
    from falcana_core.models import Mailbox, User
    from falcana_core.routes import Route
    from falcana_core.sections import Action, HelpText, Section, SectionContext, Validation
    from falcana_core.sections import PluginHost as Host
    from falcana_core.transports import FollowUp

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "falcana"
CORE_PLUGIN = "core"
DISABLE_ENV = "FALCANA_DISABLE_PLUGINS"
TRACE_ENV = "FALCANA_TRACE_PLUGINS"


class Status(enum.StrEnum):
    ENABLED = "enabled"
    DISABLED = "disabled"  # by an admin (database) or because a dependency is not enabled
    BLOCKED = "blocked"  # by FALCANA_DISABLE_PLUGINS
    FAILED = "failed"  # import error, bad manifest, missing/cyclic dependency, bad hookimpl


class PluginError(Exception):
    """A plugin could not be loaded (raised only in strict mode)."""


@dataclasses.dataclass
class PluginInfo:
    """What the host knows about one plugin; the ``plugins list`` command shows it."""

    name: str
    manifest: Manifest | None
    module_name: str
    distribution: str | None = None
    version: str = ""
    status: Status = Status.ENABLED
    reason: str = ""
    module: object | None = None
    hooks: list[str] = dataclasses.field(default_factory=list)
    directory: Path | None = None  # the package's folder: migrations/, locale/ by convention

    @property
    def depends(self) -> tuple[str, ...]:
        return self.manifest.depends if self.manifest else ()

    @property
    def essential(self) -> bool:
        return self.name == CORE_PLUGIN or bool(self.manifest and self.manifest.essential)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "distribution": self.distribution,
            "summary": self.manifest.summary if self.manifest else "",
            "depends": list(self.depends),
            "status": self.status.value,
            "enabled": self.status is Status.ENABLED,
            "essential": self.essential,
            "reason": self.reason,
            "hooks": sorted(self.hooks),
        }


@dataclasses.dataclass(frozen=True)
class Candidate:
    """A plugin found but not yet loaded: its name, module and how to import it."""

    name: str
    module_name: str
    distribution: str | None
    load: Callable[[], object]
    manifest: Manifest | None = None
    manifest_error: str = ""
    version: str = ""
    directory: Path | None = None


def blocked_by_env(environ: Mapping[str, str] | None = None) -> set[str]:
    raw = (environ if environ is not None else os.environ).get(DISABLE_ENV, "")
    return {p.strip() for p in raw.split(",") if p.strip()}


def discover() -> list[Candidate]:
    """Entry points of the ``falcana`` group, each with its manifest (nothing imported)."""
    found: dict[str, Candidate] = {}
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = ep.dist.name if ep.dist else None
        if ep.name in found:
            log.error("plugin %s is installed twice (%s, %s); the first is used",
                      ep.name, found[ep.name].distribution, dist)
            continue
        directory = None
        try:
            manifest, error = read_manifest(ep.module), ""
            directory = package_dir(ep.module)
        except ManifestError as exc:
            manifest, error = None, str(exc)
        version = ep.dist.version if ep.dist else ""
        found[ep.name] = Candidate(ep.name, ep.module, dist, ep.load, manifest, error,
                                   version, directory)
    return sorted(found.values(), key=lambda c: c.name)


def core_candidate() -> Candidate:
    """The core's own default plugin, registered like any other."""
    from falcana_core import __version__

    module = "falcana_core.default_plugin"
    return Candidate(CORE_PLUGIN, module, "falcana",
                     lambda: importlib.import_module(module), read_manifest(module),
                     version=__version__, directory=package_dir(module))


class Plugins:
    """The plugin manager of one host: loads plugins and answers what is loaded and why."""

    def __init__(self, *, strict: bool = False) -> None:
        self.pm = pluggy.PluginManager(PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.strict = strict
        self.infos: dict[str, PluginInfo] = {}
        self.hook = Hooks(self)
        self._hookspec_modules: set[str] = set()
        if _truthy(os.environ.get(TRACE_ENV)):
            trace_hook_calls(self.pm)

    # -- loading -----------------------------------------------------------------------

    def load(
        self,
        candidates: Sequence[Candidate] | None = None,
        *,
        disabled: Iterable[str] = (),
        blocked: Iterable[str] | None = None,
    ) -> None:
        """Resolve ``depends``, import and register the candidates in dependency order.

        ``disabled`` comes from the database, ``blocked`` from ``FALCANA_DISABLE_PLUGINS``.
        """
        if candidates is None:
            candidates = [core_candidate(), *discover()]
        blocked_set = blocked_by_env() if blocked is None else set(blocked)
        disabled_set = set(disabled)
        by_name = {c.name: c for c in candidates}
        for cand in candidates:
            info = PluginInfo(cand.name, cand.manifest, cand.module_name, cand.distribution,
                              cand.version, directory=cand.directory)
            self.infos[cand.name] = info
            if cand.manifest is None:
                self._fail(info, f"bad manifest: {cand.manifest_error}")
            elif cand.name in blocked_set or cand.name in disabled_set:
                how = (Status.BLOCKED, f"blocked by {DISABLE_ENV}") if (
                    cand.name in blocked_set) else (Status.DISABLED, "disabled by an admin")
                if info.essential:
                    log.warning("plugin %s is essential and cannot be disabled", cand.name)
                else:
                    info.status, info.reason = how

        for info in self.infos.values():
            for dep in info.depends:
                if dep not in by_name and info.status is Status.ENABLED:
                    self._fail(info, f"missing dependency: {dep} is not installed")
        self._fail_cycles()

        order = self._dependency_order()
        for name in order:
            info = self.infos[name]
            if info.status is not Status.ENABLED:
                continue
            off = [d for d in info.depends if self.infos[d].status is not Status.ENABLED]
            if off:
                blocker = self.infos[off[0]]
                info.status = Status.DISABLED
                info.reason = f"depends on {blocker.name}, which is {blocker.status.value}"
                continue
            self._import_and_register(by_name[name], info)
        self._check_unknown_hooks()
        self.pm.check_pending()  # what survived must match its hookspecs

    def _dependency_order(self) -> list[str]:
        """Dependencies first; within one level by name (cycles were cut by _fail_cycles)."""
        graph = {n: {d for d in i.depends if d in self.infos} for n, i in self.infos.items()}
        sorter = graphlib.TopologicalSorter(graph)
        sorter.prepare()
        ordered: list[str] = []
        while sorter.is_active():
            ready = sorted(sorter.get_ready())
            ordered.extend(ready)
            sorter.done(*ready)
        return ordered

    def _fail_cycles(self) -> None:
        while True:
            graph = {n: {d for d in i.depends if d in self.infos} for n, i in self.infos.items()}
            try:
                graphlib.TopologicalSorter(graph).prepare()
                return
            except graphlib.CycleError as exc:
                cycle: list[str] = list(exc.args[1])
                text = " -> ".join(reversed(cycle))
                for name in set(cycle):
                    info = self.infos[name]
                    info.manifest = dataclasses.replace(
                        info.manifest, depends=()) if info.manifest else None
                    self._fail(info, f"dependency cycle: {text}")

    def _import_and_register(self, cand: Candidate, info: PluginInfo) -> None:
        try:
            if info.manifest and info.manifest.hookspecs:
                self._add_hookspecs(info.manifest.hookspecs)
            module = cand.load()
        except Exception as exc:
            log.exception("plugin %s failed to import", cand.name)
            self._fail(info, f"import failed: {exc.__class__.__name__}: {exc}")
            return
        self.register(module, cand.name, info=info)

    def _add_hookspecs(self, module_name: str) -> None:
        if module_name not in self._hookspec_modules:
            self.pm.add_hookspecs(importlib.import_module(module_name))
            self._hookspec_modules.add(module_name)

    def register(self, plugin: object, name: str, *, info: PluginInfo | None = None,
                 manifest: Manifest | None = None) -> PluginInfo:
        """Register an object as a plugin (used by loading, and by the test kit)."""
        if info is None:
            info = PluginInfo(name, manifest or Manifest(),
                              getattr(plugin, "__name__", type(plugin).__name__), version="0")
            self.infos[name] = info
            if info.manifest and info.manifest.hookspecs:
                self._add_hookspecs(info.manifest.hookspecs)
        try:
            self.pm.register(plugin, name=name)
        except Exception as exc:  # pluggy's own validation (bad argument names, wrappers)
            self._fail(info, f"hookimpl rejected: {exc}")
            return info
        self.hook.forget()
        info.module = plugin
        info.status = Status.ENABLED
        info.hooks = sorted({hc.name for hc in self.pm.get_hookcallers(plugin) or []})
        self._check_unknown_hooks()
        return info

    def unregister(self, name: str) -> None:
        plugin = self.pm.get_plugin(name)
        if plugin is not None:
            self.pm.unregister(plugin, name=name)
        self.infos.pop(name, None)
        self.hook.forget()

    def _check_unknown_hooks(self) -> None:
        """Our check_pending: a hookimpl without a hookspec disables its plugin, by name."""
        for name, plugin in list(self.pm.list_name_plugin()):
            bad = []
            for hc in self.pm.get_hookcallers(plugin) or []:
                if hc.spec is not None:
                    continue
                for impl in hc.get_hookimpls():
                    if impl.plugin is plugin and not impl.optionalhook:
                        fn = impl.function
                        bad.append(f"{fn.__module__}.{fn.__qualname__}")
            if bad:
                found = self.infos.get(name)
                self.pm.unregister(plugin, name=name)
                self.hook.forget()
                message = f"hookimpl matches no hookspec: {', '.join(sorted(bad))}"
                if found is not None:
                    self._fail(found, message)
                    self._disable_dependents(name)
                elif self.strict:
                    raise PluginError(f"plugin {name}: {message}")

    def _disable_dependents(self, name: str) -> None:
        for info in self.infos.values():
            if name in info.depends and info.status is Status.ENABLED:
                plugin = self.pm.get_plugin(info.name)
                if plugin is not None:
                    self.pm.unregister(plugin, name=info.name)
                    self.hook.forget()
                info.status = Status.DISABLED
                info.reason = f"depends on {name}, which is failed"
                self._disable_dependents(info.name)

    def _fail(self, info: PluginInfo, reason: str) -> None:
        info.status = Status.FAILED
        info.reason = reason
        log.error("plugin %s: %s", info.name, reason)
        if self.strict:
            raise PluginError(f"plugin {info.name}: {reason}")

    # -- queries -----------------------------------------------------------------------

    def enabled(self) -> list[PluginInfo]:
        return [i for i in self.all() if i.status is Status.ENABLED]

    def all(self) -> list[PluginInfo]:
        """Every plugin found, core first, then by name."""
        return sorted(self.infos.values(), key=lambda i: (i.name != CORE_PLUGIN, i.name))

    def get(self, name: str) -> PluginInfo | None:
        return self.infos.get(name)

    def resources(self, folder: str) -> list[tuple[str, Path]]:
        """``(plugin, path)`` of each enabled plugin's ``folder`` (``migrations``,
        ``locale``), found by convention in its package, in dependency order."""
        order = {name: i for i, name in enumerate(self._dependency_order())}
        found = []
        for info in sorted(self.enabled(), key=lambda i: (i.name != CORE_PLUGIN,
                                                          order.get(i.name, len(order)))):
            path = info.directory / folder if info.directory else None
            if path is not None and path.is_dir():
                found.append((info.name, path))
        return found


class Hooks:
    """The one way the host and plugins call hooks, with a typed facade over it.

    Every hook, the core's and those plugins publish, goes through ``call``: its
    implementations run one by one in **plugin-name order**; one that raises is logged and
    skipped, the others still run. The hookspec says how results combine (collecting,
    first result, or a chain; see ``falcana_core.hookspec``). Each implementation runs
    through pluggy's public ``subset_hook_caller``, so ``pm.add_hookcall_monitoring`` sees
    every call (``FALCANA_TRACE_PLUGINS=1`` switches a trace on).

    The typed methods below are the core's hooks, named as in ``hookspecs.py`` (a test
    holds the two together), each one line over ``call``.
    """

    def __init__(self, plugins: Plugins) -> None:
        self._plugins = plugins
        self._callers: dict[tuple[str, str], Any] = {}

    def forget(self) -> None:
        """Drop the per-plugin callers after a plugin was registered or removed."""
        self._callers.clear()

    # -- the dispatcher ----------------------------------------------------------------

    def _impls(self, hook_name: str) -> list[Any]:
        caller = getattr(self._plugins.pm.hook, hook_name, None)
        if caller is None:
            return []
        return sorted((i for i in caller.get_hookimpls() if not i.hookwrapper
                       and not i.wrapper), key=lambda i: i.plugin_name)

    def _caller(self, hook_name: str, plugin_name: str) -> Any:
        """pluggy's hook caller for one plugin's implementation (public API, cached)."""
        key = (hook_name, plugin_name)
        if key not in self._callers:
            pm = self._plugins.pm
            others = [p for name, p in pm.list_name_plugin() if name != plugin_name]
            self._callers[key] = pm.subset_hook_caller(hook_name, remove_plugins=others)
        return self._callers[key]

    def _run(self, hook_name: str, impl: Any, kwargs: dict[str, Any]) -> tuple[bool, Any]:
        try:
            out = self._caller(hook_name, impl.plugin_name)(**kwargs)
        except Exception:
            if not self._isolated(hook_name):
                raise
            log.exception("plugin %s failed in hook %s; skipped", impl.plugin_name, hook_name)
            return False, None
        if self.mode(hook_name) == "first":
            return True, out
        return True, (out[0] if out else None)

    def _spec(self, hook_name: str) -> Any:
        """pluggy's HookSpec of a hook (None for a hook nobody specified)."""
        return getattr(getattr(self._plugins.pm.hook, hook_name, None), "spec", None)

    def _isolated(self, hook_name: str) -> bool:
        spec = self._spec(hook_name)
        return spec is None or getattr(spec.function, "falcana_isolate", True)

    def mode(self, hook_name: str) -> str:
        """``collect``, ``first`` or ``chain``, as the hookspec declares."""
        spec = self._spec(hook_name)
        if spec is None:
            return "collect"
        if spec.opts.get("firstresult"):
            return "first"
        return "chain" if getattr(spec.function, "falcana_chain", None) else "collect"

    def call(self, hook_name: str, **kwargs: Any) -> Any:
        """Call a hook as its spec declares.

        * ``collect``: ``[(plugin, item)]``, without ``None`` results; a returned list (or
          other iterable) gives its items; ordered by the items' ``order`` attribute where
          they have one (else 100), then by plugin name;
        * ``first``: the first result that is not ``None``;
        * ``chain``: the last value of the chained argument.
        """
        mode = self.mode(hook_name)
        if mode == "first":
            for impl in self._impls(hook_name):
                ok, value = self._run(hook_name, impl, kwargs)
                if ok and value is not None:
                    return value
            return None
        if mode == "chain":
            arg: str = self._spec(hook_name).function.falcana_chain
            current = dict(kwargs)
            for impl in self._impls(hook_name):
                ok, value = self._run(hook_name, impl, current)
                if ok and value is not None:
                    current[arg] = value
            return current[arg]
        results: list[tuple[str, Any]] = []
        for impl in self._impls(hook_name):
            ok, value = self._run(hook_name, impl, kwargs)
            if not ok or value is None:
                continue
            if isinstance(value, list | tuple | set | frozenset) or _is_iterator(value):
                results.extend((impl.plugin_name, v) for v in value)
            else:
                results.append((impl.plugin_name, value))
        return sorted(results, key=lambda pv: (getattr(pv[1], "order", 100), pv[0]))

    # -- the core's hooks, typed -------------------------------------------------------

    def user_settings_sections(self, host: Host) -> list[Section]:
        return _values(self.call("user_settings_sections", host=host))

    def deployment_settings_sections(self, host: Host) -> list[Section]:
        return _values(self.call("deployment_settings_sections", host=host))

    def validate_section(self, ctx: SectionContext, section_id: str,
                         values: dict[str, Any]) -> list[Validation]:
        return _values(self.call("validate_section", ctx=ctx, section_id=section_id,
                                 values=values))

    def section_help(self, ctx: SectionContext, section_id: str,
                     values: dict[str, Any]) -> list[HelpText]:
        return _values(self.call("section_help", ctx=ctx, section_id=section_id,
                                 values=values))

    def user_actions(self, host: Host) -> list[Action]:
        return _values(self.call("user_actions", host=host))

    def register_transports(self) -> dict[str, TransportFactory]:
        """Transport factories by name, the default first (the first registered with
        ``default=True``, else the first registered); a name registered twice keeps the
        first."""
        found: dict[str, TransportFactory] = {}
        defaults: list[str] = []
        for impl in self._impls("register_transports"):
            def register(name: str, factory: TransportFactory, *, default: bool = False,
                         _plugin: str = impl.plugin_name) -> None:
                if name in found:
                    log.error("plugin %s registers transport %r a second time; ignored",
                              _plugin, name)
                    return
                found[name] = factory
                if default:
                    defaults.append(name)
            self._run("register_transports", impl, {"register": register})
        if defaults:
            found = {defaults[0]: found[defaults[0]],
                     **{k: v for k, v in found.items() if k != defaults[0]}}
        return found

    def register_outgoing_clients(self) -> dict[str, tuple[str, str]]:
        """Every declared kind of outgoing connection: name -> (plugin, description); a
        name declared twice keeps the first."""
        found: dict[str, tuple[str, str]] = {}
        for impl in self._impls("register_outgoing_clients"):
            def register(name: str, description: str,
                         _plugin: str = impl.plugin_name) -> None:
                if name in found:
                    log.error("plugin %s declares outgoing client %r a second time; ignored",
                              _plugin, name)
                    return
                found[name] = (_plugin, description)
            self._run("register_outgoing_clients", impl, {"register": register})
        return found

    def step_labels(self) -> dict[str, Text]:
        labels: dict[str, Text] = {}
        for _plugin, found in self.call("step_labels"):
            labels.update(found)
        return labels

    def explain_delivery_error(self, failure: DeliveryFailure
                               ) -> list[tuple[str, Explanation]]:
        """(plugin, explanation) pairs: the plugin name breaks ties of specificity."""
        found: list[tuple[str, Explanation]] = self.call("explain_delivery_error",
                                                         failure=failure)
        return found

    def after_delivery(self, host: Host, mailbox: Mailbox) -> list[FollowUp]:
        return _values(self.call("after_delivery", host=host, mailbox=mailbox))

    def mailbox_notices(self, host: Host, mailbox: Mailbox) -> list[Notice]:
        return _values(self.call("mailbox_notices", host=host, mailbox=mailbox))

    def worker_duties(self, host: Host) -> list[Duty]:
        return _values(self.call("worker_duties", host=host))

    def mailbox_health_changed(self, host: Host, mailbox: Mailbox, before: HealthState,
                               after: HealthReport) -> None:
        self.call("mailbox_health_changed", host=host, mailbox=mailbox, before=before,
                  after=after)

    def register_routes(self, host: Host) -> list[tuple[str, Route | tuple[Any, ...]]]:
        """(plugin, route) pairs; a route may be a ``(rule, view)`` tuple."""
        found: list[tuple[str, Route | tuple[Any, ...]]] = self.call("register_routes",
                                                                     host=host)
        return found

    def register_commands(self, cli: click.Group) -> None:
        self.call("register_commands", cli=cli)

    def current_user(self, host: Host, request: Any) -> User | None:
        user: User | None = self.call("current_user", host=host, request=request)
        return user


def _values(pairs: list[tuple[str, Any]]) -> list[Any]:
    """The items of a collecting hook's ``(plugin, item)`` pairs, in their order."""
    return [value for _plugin, value in pairs]


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def trace_hook_calls(pm: pluggy.PluginManager) -> Callable[[], None]:
    """Log every hook call (hook, plugin, argument names, result type) through pluggy's own
    monitoring, on the logger ``falcana.trace``. Values are never logged: they may be
    secrets. Returns the function that stops the trace."""
    trace = logging.getLogger("falcana.trace")
    if not trace.handlers and not logging.getLogger().handlers:
        trace.addHandler(logging.StreamHandler())
        trace.setLevel(logging.INFO)

    def before(hook_name: str, impls: Sequence[Any], kwargs: Mapping[str, Any]) -> None:
        for impl in impls:
            trace.info("hook %s -> %s(%s)", hook_name, impl.plugin_name,
                       ", ".join(impl.argnames))

    def after(outcome: Any, hook_name: str, impls: Sequence[Any],
              kwargs: Mapping[str, Any]) -> None:
        if outcome.exception is not None:
            trace.info("hook %s <- raised %s", hook_name,
                       outcome.exception.__class__.__name__)
        else:
            result = outcome.get_result()  # a list, or one value for a first-result hook
            results = result if isinstance(result, list) else [
                r for r in (result,) if r is not None]
            trace.info("hook %s <- %s", hook_name,
                       ", ".join(type(r).__name__ for r in results) or "nothing")

    return pm.add_hookcall_monitoring(before, after)


def _is_iterator(value: object) -> bool:
    return hasattr(value, "__next__")


def load_plugins(*, disabled: Iterable[str] = (), strict: bool = False) -> Plugins:
    """Discover and load every installed plugin (no database: ``disabled`` is given)."""
    plugins = Plugins(strict=strict)
    plugins.load(disabled=disabled)
    return plugins

