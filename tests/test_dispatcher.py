"""One dispatcher calls every hook: its order, its three modes, isolation, and tracing."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest

from falcana_core import hookimpl, hookspec
from falcana_core.host import Host
from falcana_core.plugins import Plugins, trace_hook_calls


class Specs:
    @hookspec
    def gather(self, value: int) -> int | None:
        """Collected."""

    @hookspec(firstresult=True)
    def pick(self, value: int) -> int | None:
        """First result."""

    @hookspec(chain="text")
    def polish(self, text: str) -> str | None:
        """Chained."""

    @hookspec(firstresult=True, isolate=False)
    def strict(self) -> int | None:
        """Exceptions reach the caller."""


calls: list[str] = []


class Zeta:
    @staticmethod
    @hookimpl
    def gather(value: int) -> int:
        return 3

    @staticmethod
    @hookimpl
    def pick(value: int) -> int:
        calls.append("zeta.pick")
        return 30

    @staticmethod
    @hookimpl
    def polish(text: str) -> str:
        return text + "z"


class Alpha:
    @staticmethod
    @hookimpl
    def gather(value: int) -> int:
        return 1

    @staticmethod
    @hookimpl
    def pick(value: int) -> None:
        calls.append("alpha.pick")

    @staticmethod
    @hookimpl
    def polish(text: str) -> str:
        return text.upper()


class Mid:
    @staticmethod
    @hookimpl
    def gather(value: int) -> float:
        return 1 / 0

    @staticmethod
    @hookimpl
    def pick(value: int) -> int:
        calls.append("mid.pick")
        return value

    @staticmethod
    @hookimpl
    def polish(text: str) -> None:
        return None


class Strict:
    @staticmethod
    @hookimpl
    def strict() -> int:
        raise PermissionError("refused")


@pytest.fixture
def plugins() -> Plugins:
    calls.clear()
    found = Plugins(strict=True)
    found.pm.add_hookspecs(Specs)
    # registered in an order other than the names' on purpose
    for obj, name in ((Zeta, "zeta"), (Alpha, "alpha"), (Mid, "mid")):
        found.register(obj, name)
    return found


def test_collected_in_plugin_name_order_skipping_a_raising_plugin(
        plugins: Plugins, caplog: pytest.LogCaptureFixture) -> None:
    assert plugins.hook.call("gather", value=7) == [("alpha", 1), ("zeta", 3)]
    assert "plugin mid failed in hook gather; skipped" in caplog.text


def test_first_result_really_stops(plugins: Plugins) -> None:
    assert plugins.hook.call("pick", value=7) == 7
    assert calls == ["alpha.pick", "mid.pick"]  # zeta was never called


def test_chain_hands_each_result_to_the_next(plugins: Plugins) -> None:
    assert plugins.hook.call("polish", text="ab") == "ABz"


def test_a_spec_can_let_exceptions_reach_the_caller(plugins: Plugins) -> None:
    plugins.register(Strict, "strict_one")
    with pytest.raises(PermissionError):
        plugins.hook.call("strict")


def test_pluggys_monitoring_sees_every_call(plugins: Plugins,
                                            caplog: pytest.LogCaptureFixture) -> None:
    stop = trace_hook_calls(plugins.pm)
    try:
        with caplog.at_level(logging.INFO, logger="falcana.trace"):
            plugins.hook.call("pick", value=1)
    finally:
        stop()
    assert "hook pick -> alpha(value)" in caplog.text
    assert "hook pick -> mid(value)" in caplog.text
    assert "hook pick <- int" in caplog.text
    assert "zeta" not in caplog.text


def test_the_core_hooks_use_the_same_dispatcher(falcana_host: Host,
                                                register_plugin: Callable[..., Any]) -> None:
    """provider_limits is first-result: a second plugin is not asked."""
    from falcana_smtp_settings.api import provider_limits

    from falcana_core.api.transport import Limits

    asked = []

    class AAA:
        @staticmethod
        @hookimpl
        def provider_limits(provider: str) -> Limits:
            asked.append("aaa")
            return Limits(messages_per_minute=1)

    class ZZZ:
        @staticmethod
        @hookimpl
        def provider_limits(provider: str) -> Limits:
            asked.append("zzz")
            return Limits(messages_per_minute=2)

    with register_plugin(ZZZ, "zzz_limits"), register_plugin(AAA, "aaa_limits"):
        limits = provider_limits(falcana_host, "nobody-else-declares-this")
    assert limits is not None and limits.messages_per_minute == 1
    assert asked == ["aaa"]
