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

import ssl
from collections.abc import Iterator
from typing import Any

import pytest

from falcana_oauth.testing.authorization import OAuthTestServer, Token, xoauth2_authenticator
from falcana_oauth.testing.mail_api import MailApiTestServer, Received, sign_in

__all__ = ["MailApiTestServer", "OAuthTestServer", "Received", "Token", "sign_in",
           "xoauth2_authenticator"]


@pytest.fixture
def oauth_server(test_ca: Any) -> Iterator[OAuthTestServer]:
    """A local OAuth2 authorization server (authlib) over HTTPS, its certificate from the
    test CA the host trusts (as a company's own CA in FALCANA_CA_BUNDLE); see
    ``authorization``."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    test_ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    server = OAuthTestServer(ssl_context=context).start()
    yield server
    server.stop()

