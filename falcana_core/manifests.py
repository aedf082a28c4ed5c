"""Plugin manifests: a small TOML file inside each plugin package, read without importing it.

Odoo-style: ``name``, ``version``, ``summary``, ``depends``; optionally ``hookspecs`` (a module
of hookspecs the plugin publishes for its dependents) and ``essential`` (cannot be disabled).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import tomllib
from pathlib import Path

MANIFEST_FILE = "falcana_plugin.toml"


class ManifestError(Exception):
    """A manifest is missing or malformed."""


@dataclasses.dataclass(frozen=True)
class Manifest:
    name: str
    version: str
    summary: str = ""
    depends: tuple[str, ...] = ()
    hookspecs: str | None = None
    essential: bool = False
    order: int = 100

    @classmethod
    def from_mapping(cls, data: dict[str, object], source: str) -> Manifest:
        try:
            name = data["name"]
            version = data["version"]
        except KeyError as exc:
            raise ManifestError(f"{source}: missing key {exc.args[0]!r}") from None
        depends = data.get("depends", [])
        if not isinstance(name, str) or not isinstance(version, str):
            raise ManifestError(f"{source}: name and version must be strings")
        if not isinstance(depends, list) or not all(isinstance(d, str) for d in depends):
            raise ManifestError(f"{source}: depends must be a list of plugin names")
        hookspecs = data.get("hookspecs")
        order = data.get("order", 100)
        return cls(
            name=name,
            version=version,
            summary=str(data.get("summary", "")),
            depends=tuple(depends),
            hookspecs=hookspecs if isinstance(hookspecs, str) else None,
            essential=bool(data.get("essential", False)),
            order=order if isinstance(order, int) else 100,
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
    """Read the manifest next to the package of ``module_name``."""
    path = package_dir(module_name) / MANIFEST_FILE
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ManifestError(f"{path.name} not found in package of {module_name}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ManifestError(f"{path.name} of {module_name}: {exc}") from None
    return Manifest.from_mapping(data, f"{path.name} of {module_name}")
