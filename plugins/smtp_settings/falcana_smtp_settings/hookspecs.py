"""Hooks the SMTP settings plugin publishes for the plugins that depend on it.

Provider plugins recognise their provider (``detect_provider``), declare its limits, and
then get the provider the section recognised (``Detection``) and answer only for their
own: no section ids to check, nothing to detect again. Sign-in plugins (OAuth2) add
sign-in methods and log in for them; the discovery plugin finds settings.

**Writing a provider plugin?** Its hooks are these: ``detect_provider``,
``provider_limits``, ``provider_validate``, ``provider_help``; besides them a provider
implements the core's ``explain_delivery_error`` (its replies, ranked by specificity),
``register_transports`` (a mail API, if it has one) and ``deployment_settings_sections``
(its OAuth2 client's settings), and the OAuth plugin's ``oauth_providers``.
docs/writing-a-provider-plugin.md walks through them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from falcana_core.api import hookspec

if TYPE_CHECKING:
    from falcana_core.api import Choice, HelpText, Host, Mailbox, SectionContext, Text, Validation
    from falcana_core.api.transport import Limits
    from falcana_smtp_settings.detection import Detection, MxLookup
    from falcana_smtp_settings.discovery import Discovery
    from falcana_smtp_settings.exchange import SmtpSession
    from falcana_smtp_settings.settings import SmtpSettings
    from falcana_smtp_settings.testmail import TestPart


@hookspec
def detect_provider(address: str, host: str, mx: MxLookup) -> Detection | None:
    """Recognise a mail provider from an address, an SMTP host or the domain's MX records.

    Collected; the detection with the highest ``confidence`` wins, ties by plugin name.
    ``mx(domain)`` looks MX records up lazily (cached, bounded time-out, empty when DNS is
    unavailable): call it only when the address and host did not decide.
    """


@hookspec(firstresult=True)
def provider_limits(provider: str) -> Limits | None:
    """Sending limits a provider declares (connections, messages per minute, per day).

    First result; the SMTP transport and the mail API transports declare them to the
    outbox (``Transport.limits``), which keeps within them and falls back to defaults.
    """


@hookspec(firstresult=True)
def known_server(server: str) -> Text | None:
    """Who knows ``server`` as a real mail server (the ISP database: "Thunderbird ISP
    database (1&1)"), so a name that does not resolve, or a port that does not answer,
    is the falcana server's network, not a typo.

    First result; a provider plugin's own hosts are known through ``detect_provider``
    already (a detection ``via="host"``).
    """


@hookspec(firstresult=True)
def discover_settings(host: Host, address: str) -> Discovery | None:
    """Find a mailbox's server settings from its address ("Einstellungen ermitteln").

    First result. The answer lists candidates (``Found``: values by field id of the
    section they fill, where they came from) and what was tried; ``discover(host,
    address)``, ``falcana mail set --detect`` and the popup's button use it. The discovery
    plugin answers it from provider plugins, the bundled ISP database, autoconfig, DNS
    SRV, MX and probing.
    """


@hookspec
def provider_validate(ctx: SectionContext, provider: Detection,
                      values: dict[str, Any]) -> Validation | None:
    """Check the e-mail settings for a recognised provider, optionally normalising values.

    Collected; called after the section's own validation, with normalised values (``port``
    an ``int``), for every save through the web UI, the CLI and the Python API, and only
    when a provider was recognised. ``provider.provider`` is its id: answer ``None`` for
    providers that are not yours. Put replacement values into ``Validation.normalised``
    (Gmail removes the spaces of app passwords). Errors stop the save.
    """


@hookspec
def provider_help(ctx: SectionContext, provider: Detection,
                  values: dict[str, Any]) -> Iterable[HelpText] | None:
    """Help for a recognised provider in the e-mail settings (its special cases, dated).

    Collected; ordered by ``HelpText.order``, then plugin name. ``values`` are the values
    as currently shown (stored or just typed). Answer only for your own providers.
    """


@hookspec
def smtp_auth_methods(ctx: SectionContext, values: dict[str, Any]) -> Iterable[Choice] | None:
    """Sign-in methods beside the password for these settings (e.g. OAuth2 modes).

    Collected; each ``Choice.value`` becomes a value of the section's ``auth_method``
    field, shown only when some plugin offers a method. The plugin that offers a method
    logs in for it through ``smtp_login``.
    """


@hookspec
def transport_choices(ctx: SectionContext, values: dict[str, Any]) -> Iterable[Choice] | None:
    """Ways of sending beside SMTP for these settings ("Versand über": Microsoft Graph,
    the Gmail API).

    Collected; each ``Choice.value`` names a transport registered through
    ``register_transports``. The section shows the choice only when some plugin offers
    one, and hides the SMTP fields (server, port, connection type, username, password)
    while another transport is chosen; their stored values stay. Offer a transport only
    when it can work for ``values`` (the recognised provider, a configured client).
    """


@hookspec(firstresult=True, isolate=False)
def smtp_login(host: Host, session: SmtpSession, settings: SmtpSettings) -> str | None:
    """Log in on an open, encrypted SMTP session for a sign-in method you offered.

    First result; called only when ``settings.auth_method`` is not ``"password"``. Return
    the SASL mechanism used (``session.xoauth2(account, token)`` does XOAUTH2 and returns
    ``"XOAUTH2"``), or ``None`` when the method is not yours. Run any extra step through
    ``session.step("token", ...)`` so it shows in the step log; raise a ``StepProblem``
    there for a problem to explain (never with a secret in it). Exceptions reach the
    session (they are the step log's failures), so they are not isolated.
    """


@hookspec(chain="password")
def smtp_password_for_auth(settings: SmtpSettings, password: str) -> str | None:
    """Adjust a stored password right before AUTH (Gmail strips the spaces of an app
    password stored before its plugin was installed, when validation did not run).

    Chained in plugin-name order: each result other than ``None`` becomes ``password`` for
    the next implementation and finally for AUTH. Never log the value.
    """


@hookspec
def smtp_test_sent(host: Host, mailbox: Mailbox, content: bytes,
                   message_id: str) -> TestPart | None:
    """The test e-mail went out: a further check with its own step log (the copy in
    Sent). ``content`` is the message exactly as it went out (Bcc removed).

    Collected; each ``TestPart`` is shown under the SMTP step log and in ``--json``.
    """


@hookspec
def smtp_settings_saved(ctx: SectionContext, values: dict[str, Any],
                        changes: dict[str, Any]) -> None:
    """The e-mail settings of ``ctx.mailbox`` were saved: ``changes`` maps each changed
    field to ``[old, new]`` (secrets as ``"changed"``/``"removed"``).

    Collected; called after the save's transaction, e.g. to connect a mailbox for the
    sign-in method just chosen.
    """
