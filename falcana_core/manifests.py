"""Plugin manifests: a small TOML file inside each plugin package, read without importing it.

Odoo-style, but only what cannot be derived: ``depends`` (other plugins that must be
enabled), ``summary`` (the label ``plugins list`` shows), optionally ``hookspecs`` (a module
of hookspecs the plugin publishes for its dependents) and ``essential`` (cannot be
disabled). The plugin's name is its entry point's name and its version the distribution's;
a plugin without dependencies needs no manifest at all.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import tomllib
from pathlib import Path

MANIFEST_FILE = "falcana_plugin.toml"


class ManifestError(Exception):
    """A manifest is missing or malformed."""


KNOWN_KEYS = frozenset({"summary", "depends", "hookspecs", "essential"})


@dataclasses.dataclass(frozen=True)
class Manifest:
    summary: str = ""
    depends: tuple[str, ...] = ()
    hookspecs: str | None = None
    essential: bool = False

    @classmethod
    def from_mapping(cls, data: dict[str, object], source: str) -> Manifest:
        unknown = sorted(set(data) - KNOWN_KEYS)
        if unknown:  # a typo ("depend") must not silently drop a dependency
            raise ManifestError(f"{source}: unknown key(s) {', '.join(unknown)} "
                                f"(known: {', '.join(sorted(KNOWN_KEYS))})")
        depends = data.get("depends", [])
        if not isinstance(depends, list) or not all(isinstance(d, str) for d in depends):
            raise ManifestError(f"{source}: depends must be a list of plugin names")
        hookspecs = data.get("hookspecs")
        if hookspecs is not None and not isinstance(hookspecs, str):
            raise ManifestError(f"{source}: hookspecs must be a module name")
        return cls(
            summary=str(data.get("summary", "")),
            depends=tuple(depends),
            hookspecs=hookspecs,
            essential=bool(data.get("essential", False)),
        )


def package_dir(module_name: str) -> Path:
    """The directory of a plugin's top-level package, found without executing it."""
    top = module_name.split(".")[0]
    spec = importlib.util.find_spec(top)
    if spec is None:
        raise ManifestError(f"package {top!r} is not installed")
    if spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    if spec.origin:
        return Path(spec.origin).parent
    raise ManifestError(f"package {top!r} has no location")


def read_manifest(module_name: str) -> Manifest:
    """Read the manifest next to the package of ``module_name`` (none: an empty one)."""
    path = package_dir(module_name) / MANIFEST_FILE
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return Manifest()
    except tomllib.TOMLDecodeError as exc:
        raise ManifestError(f"{path.name} of {module_name}: {exc}") from None
    return Manifest.from_mapping(data, f"{path.name} of {module_name}")
