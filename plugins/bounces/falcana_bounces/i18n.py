from __future__ import annotations

from pathlib import Path

from falcana_core.api import Domain

_ = Domain("bounces", Path(__file__).parent / "locale")
