"""OAuth2 sign-in for mailboxes, once for every provider plugin.

Provider plugins describe their OAuth2 client through the ``oauth_providers`` hook this
plugin publishes; this plugin owns the tokens, the sign-in routes, the buttons, consent
links and the connection state shown in the e-mail settings.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from falcana_oauth.client_section import ClientField, OAuthClientSection
    from falcana_oauth.service import (
        APP,
        DELEGATED,
        DELEGATION,
        AccessToken,
        OAuth,
        OAuthApi,
        OAuthError,
        OAuthProvider,
        oauth,
    )

__all__ = ["APP", "DELEGATED", "DELEGATION", "AccessToken", "ClientField", "OAuth", "OAuthApi",
           "OAuthClientSection", "OAuthError", "OAuthProvider", "oauth"]


def __getattr__(name: str) -> Any:
    """Loaded on first use: loading the plugin must not import the database layer."""
    if name not in __all__:
        raise AttributeError(f"falcana_oauth has no {name!r}")
    module = "client_section" if name in ("ClientField", "OAuthClientSection") else "service"
    return getattr(importlib.import_module(f"falcana_oauth.{module}"), name)
