"""Hooks the OAuth plugin publishes for provider plugins."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from falcana_core.api import hookspec

if TYPE_CHECKING:
    from falcana_core.api import Host
    from falcana_oauth.service import OAuthProvider


@hookspec
def oauth_providers(host: Host) -> Iterable[OAuthProvider] | None:
    """OAuth2 clients for mailbox sign-in (XOAUTH2) that a provider plugin configures.

    Collected; each names the detected providers it signs in for (``serves``) and is
    usually built from the plugin's deployment settings (client id, secret, tenant). Return
    nothing while the admin has not configured a client. The OAuth plugin adds the sign-in
    choices, buttons, routes, consent links and connection state for it.
    """
