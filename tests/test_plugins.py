"""Plugin discovery, dependencies, failures and enable/disable, through real entry points."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pytest

from falcana_core.config import Config
from falcana_core.host import Host
from falcana_core.plugins import PluginError, Plugins, Status
from falcana_core.testing import make_config

FIRST_PARTY = {"core", "smtp_settings", "oauth", "providers_m365", "providers_gmail"}


def start(tmp_path: Path, **overrides: object) -> Host:
    overrides.setdefault("strict_plugins", False)
    return Host.start(make_config(tmp_path / "data", **overrides))


def test_first_party_plugins_load_enabled_with_versions_and_hooks(tmp_path: Path) -> None:
    host = start(tmp_path)
    infos = {i.name: i for i in host.plugins.all()}
    assert set(infos) >= FIRST_PARTY
    for name in FIRST_PARTY:
        assert infos[name].status is Status.ENABLED, infos[name].reason
        assert infos[name].version == "0.1.0"
        assert infos[name].hooks, f"{name} implements no hook"
    assert infos["smtp_settings"].distribution == "falcana-smtp-settings"
    assert "user_settings_sections" in infos["smtp_settings"].hooks


def test_plugin_whose_import_raises_is_failed_and_dependents_disabled(
        tmp_path: Path, fake_distribution: Callable[..., Path]) -> None:
    fake_distribution("broken", code="raise RuntimeError('boom at import')")
    fake_distribution("needs_broken", depends=("broken",),
                      code="@hookimpl\ndef explain_delivery_error(failure):\n    return None\n")
    fake_distribution("fine",
                      code="@hookimpl\ndef explain_delivery_error(failure):\n    return None\n")
    host = start(tmp_path)
    broken, dependent, fine = (host.plugins.get(n) for n in ("broken", "needs_broken", "fine"))
    assert broken is not None and broken.status is Status.FAILED
    assert "RuntimeError: boom at import" in broken.reason
    assert dependent is not None and dependent.status is Status.DISABLED
    assert dependent.reason == "depends on broken, which is failed"
    assert fine is not None and fine.status is Status.ENABLED
    # the host keeps working: the SMTP section is still there
    assert [s.id for s in host.sections()] == ["smtp", "sent_copy", "outbox", "bounces"]


def test_misspelled_hookimpl_disables_its_plugin_naming_the_function(
        tmp_path: Path, fake_distribution: Callable[..., Path]) -> None:
    fake_distribution("typo", code="@hookimpl\ndef user_setings_sections(host):\n    return []\n")
    host = start(tmp_path)
    info = host.plugins.get("typo")
    assert info is not None and info.status is Status.FAILED
    assert "falcana_typo.plugin.user_setings_sections" in info.reason
    assert "matches no hookspec" in info.reason
    assert host.plugins.pm.get_plugin("typo") is None


def test_misspelled_hookimpl_is_a_hard_error_in_strict_mode(
        tmp_path: Path, fake_distribution: Callable[..., Path]) -> None:
    fake_distribution("typo", code="@hookimpl\ndef user_setings_sections(host):\n    return []\n")
    with pytest.raises(PluginError, match="user_setings_sections"):
        start(tmp_path, strict_plugins=True)


def test_dependency_cycle_is_reported_naming_the_plugins(
        tmp_path: Path, fake_distribution: Callable[..., Path]) -> None:
    fake_distribution("alpha", depends=("beta",))
    fake_distribution("beta", depends=("alpha",))
    host = start(tmp_path)
    for name in ("alpha", "beta"):
        info = host.plugins.get(name)
        assert info is not None and info.status is Status.FAILED
        assert "dependency cycle" in info.reason
        assert "alpha" in info.reason and "beta" in info.reason


def test_missing_dependency_is_reported(tmp_path: Path,
                                        fake_distribution: Callable[..., Path]) -> None:
    fake_distribution("orphan", depends=("not_installed",))
    info = start(tmp_path).plugins.get("orphan")
    assert info is not None and info.status is Status.FAILED
    assert info.reason == "missing dependency: not_installed is not installed"


def test_a_misspelled_manifest_key_fails_the_plugin_naming_the_key(
        tmp_path: Path, fake_distribution: Callable[..., Path]) -> None:
    fake_distribution("typo_key", manifest_extra='depend = ["smtp_settings"]\n')
    info = start(tmp_path).plugins.get("typo_key")
    assert info is not None and info.status is Status.FAILED
    assert "unknown key(s) depend" in info.reason


def test_name_and_version_come_from_the_entry_point_and_distribution(
        tmp_path: Path, fake_distribution: Callable[..., Path]) -> None:
    fake_distribution("versioned", version="2.3.4")
    info = start(tmp_path).plugins.get("versioned")
    assert info is not None and info.status is Status.ENABLED, info and info.reason
    assert (info.version, info.distribution) == ("2.3.4", "falcana-versioned")


def test_disabling_persists_across_restarts_and_disables_dependents(tmp_path: Path) -> None:
    host = start(tmp_path)
    host.set_plugin_enabled("providers_gmail", False, actor="admin")
    host.close()
    again = start(tmp_path)
    gmail = again.plugins.get("providers_gmail")
    assert gmail is not None and gmail.status is Status.DISABLED
    assert again.plugins.pm.get_plugin("providers_gmail") is None
    again.set_plugin_enabled("providers_gmail", True, actor="admin")
    third = start(tmp_path)
    assert third.plugins.get("providers_gmail").status is Status.ENABLED  # type: ignore[union-attr]
    entries = third.audit.entries("plugin", "providers_gmail")
    assert [e.action for e in entries] == ["plugin.enable", "plugin.disable"]


def test_essential_plugins_cannot_be_disabled(tmp_path: Path) -> None:
    from falcana_core.i18n import language

    host = start(tmp_path)
    with language("en"), pytest.raises(ValueError, match="essential"):
        host.set_plugin_enabled("smtp_settings", False, actor="admin")
    with language("de"), pytest.raises(ValueError, match="unverzichtbar"):
        host.set_plugin_enabled("core", False, actor="admin")


def test_environment_blocks_plugins_before_they_load(
        tmp_path: Path, fake_distribution: Callable[..., Path]) -> None:
    fake_distribution("explodes", code="raise SystemError('must never be imported')")
    host = start(tmp_path, disable_plugins=frozenset({"explodes", "providers_m365"}))
    for name in ("explodes", "providers_m365"):
        info = host.plugins.get(name)
        assert info is not None and info.status is Status.BLOCKED
    # blocked means not imported at all: its import error never happened
    assert "must never be imported" not in host.plugins.get("explodes").reason  # type: ignore[union-attr]


def test_a_raising_plugin_in_a_collecting_hook_is_skipped(
        falcana_host: Host, register_plugin: Callable[..., object],
        caplog: pytest.LogCaptureFixture) -> None:
    class Raises:
        @staticmethod
        def _impl(host: Host) -> list[object]:
            raise RuntimeError("plugin bug")

    from falcana_core import hookimpl

    class Bad:
        @hookimpl
        def user_settings_sections(self, host: Host) -> list[object]:
            raise RuntimeError("plugin bug")

    with register_plugin(Bad(), "aaa_bad"), caplog.at_level(logging.ERROR):
        sections = falcana_host.sections()
    assert [s.id for s in sections] == ["smtp", "sent_copy", "outbox", "bounces"]
    assert any("aaa_bad" in r.getMessage() and "skipped" in r.getMessage()
               for r in caplog.records)


def test_collected_results_are_ordered_by_declared_order_then_name(
        falcana_host: Host, register_plugin: Callable[..., object]) -> None:
    from falcana_core import hookimpl

    def section(section_id: str, order: int) -> object:
        return type("S", (), {"id": section_id, "order": order, "title": section_id,
                              "template": None})()

    class Late:
        @hookimpl
        def user_settings_sections(self, host: Host) -> list[object]:
            return [section("late", 5)]

    class Early:
        @hookimpl
        def user_settings_sections(self, host: Host) -> list[object]:
            return [section("early_b", 5), section("first", 1)]

    # registered in the "wrong" order on purpose: registration order must not matter
    with register_plugin(Late(), "zzz_late"), register_plugin(Early(), "aaa_early"):
        ids = [s.id for s in falcana_host.sections()]
    assert ids == ["first", "early_b", "late", "smtp", "sent_copy", "outbox",
                   "bounces"]


def test_loading_reports_but_never_imports_blocked_and_disabled(tmp_path: Path) -> None:
    plugins = Plugins()
    plugins.load(disabled={"providers_gmail"}, blocked=set())
    assert plugins.get("providers_gmail").status is Status.DISABLED  # type: ignore[union-attr]
    assert plugins.get("providers_m365").status is Status.ENABLED  # type: ignore[union-attr]


def test_config_is_used(tmp_path: Path) -> None:
    config = Config.from_env({"FALCANA_DATA_DIR": str(tmp_path),
                              "FALCANA_DISABLE_PLUGINS": "a, b"})
    assert config.disable_plugins == {"a", "b"}
    assert config.database_url == f"sqlite:///{tmp_path / 'falcana.db'}"


def test_loading_plugins_stays_light() -> None:
    """Loading the three plugins imports neither the web stack nor the heavy modules."""
    import subprocess
    import sys

    code = ("import sys; from falcana_core.plugins import load_plugins; load_plugins(); "
            "print(','.join(m for m in ('flask', 'waitress', 'sqlalchemy', 'alembic', "
            "'aiosmtpd', 'smtplib', 'jinja2', 'cryptography', 'dns', 'babel') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == ""
