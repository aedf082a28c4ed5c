"""Shared helpers for the whole-system tests (the test kit itself is falcana_core.testing)."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest


@pytest.fixture
def fake_distribution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Path]:
    """Install a plugin distribution into a folder on sys.path, with a real entry point.

    ``fake_distribution("broken", code="raise RuntimeError('boom')", depends=["x"])``
    """
    site = tmp_path / "site"
    site.mkdir(exist_ok=True)
    monkeypatch.syspath_prepend(str(site))

    def install(name: str, *, code: str = "", depends: tuple[str, ...] = (),
                version: str = "1.0", manifest_extra: str = "") -> Path:
        package = site / f"falcana_{name}"
        package.mkdir()
        (package / "__init__.py").write_text("")
        (package / "plugin.py").write_text(
            "from falcana_core import hookimpl\n" + textwrap.dedent(code))
        deps = ", ".join(f'"{d}"' for d in depends)
        (package / "falcana_plugin.toml").write_text(
            f'summary = "test plugin {name}"\ndepends = [{deps}]\n{manifest_extra}')
        info = site / f"falcana_{name}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: falcana-{name}\nVersion: {version}\n")
        (info / "entry_points.txt").write_text(
            f"[falcana]\n{name} = falcana_{name}.plugin\n")
        return package

    return install
