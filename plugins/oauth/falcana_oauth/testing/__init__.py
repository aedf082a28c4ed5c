"""The OAuth plugin's test kit: a pytest plugin (``pytest -p falcana_oauth.testing``).

* ``oauth_server``: a local OAuth2 authorization server (``authorization.OAuthTestServer``,
  authlib's server side); with ``xoauth2_authenticator(oauth_server, scope)`` as
  ``smtp_server(..., extra_auth=...)`` the test SMTP server checks XOAUTH2 tokens like a
  provider;
* ``MailApiTestServer``: the base of the provider plugins' local mail APIs
  (``mail_api``);
* ``sign_in(host, mailbox, provider_id, redirect_uri)``: a user's consent without a browser.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from falcana_oauth.testing.authorization import OAuthTestServer, Token, xoauth2_authenticator
from falcana_oauth.testing.mail_api import MailApiTestServer, Received, sign_in

__all__ = ["MailApiTestServer", "OAuthTestServer", "Received", "Token", "sign_in",
           "xoauth2_authenticator"]


@pytest.fixture
def oauth_server() -> Iterator[OAuthTestServer]:
    """A local OAuth2 authorization server (authlib); see ``authorization``."""
    server = OAuthTestServer().start()
    yield server
    server.stop()

