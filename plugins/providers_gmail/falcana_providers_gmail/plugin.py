"""Hook implementations of the provider plugin. Heavy imports stay inside functions."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from falcana_core import hookimpl

if TYPE_CHECKING:
    from falcana_core.providers import Detection, MxLookup

HERE = Path(__file__).parent


@hookimpl
def detect_provider(address: str, host: str, mx: MxLookup) -> Detection | None:
    from falcana_providers_gmail.detect import detect

    return detect(address, host, mx)


@hookimpl
def locale_dir() -> Path:
    return HERE / "locale"
