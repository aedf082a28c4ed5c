"""Every hook the host core offers, in one place, each documented.

Conventions (docs/hooks.md is the reference and a test keeps the two in step):

* A *collecting* hook gathers a result from every enabled plugin. The host calls it
  implementation by implementation, so one plugin that raises is logged and skipped and
  the others' results still arrive; its implementations may not be wrappers.
* Results are ordered explicitly (an ``order`` attribute where the result has one, then
  the plugin name), never by the order in which plugins were registered.
* A *first-result* hook stops at the first implementation that returns something other
  than ``None``; implementations are tried in plugin-name order.
* Implementations take only the arguments they need, and never default values (pluggy
  ignores them).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from falcana_core import hookspec

if TYPE_CHECKING:
    import click

    from falcana_core.delivery import DeliveryFailure, Explanation
    from falcana_core.host import Host
    from falcana_core.models import User
    from falcana_core.oauth import OAuthProvider
    from falcana_core.providers import Detection, Limits, MxLookup
    from falcana_core.sections import Action, HelpText, Section, SectionContext, Validation
    from falcana_core.transports import TransportFactory


@hookspec
def user_settings_sections(host: Host) -> Iterable[Section] | None:
    """Sections shown in a mailbox's settings popup (a user's own mailbox or a shared one).

    Collected; ordered by ``Section.order``, then plugin name. Called whenever a popup is
    rendered or saved, so return cheap objects.
    """


@hookspec
def deployment_settings_sections(host: Host) -> Iterable[Section] | None:
    """Sections of the deployment-wide settings page (an OAuth client, outbox defaults).

    Collected; ordered like ``user_settings_sections``. The section's context has no mailbox.
    """


@hookspec
def validate_section(
    ctx: SectionContext, section_id: str, values: dict[str, Any]
) -> Validation | None:
    """Add checks to another plugin's section, and optionally normalise values.

    Collected; called after the section's own validation, on the same values, for every
    save through the web UI, the CLI or the Python API. Put replacement values into
    ``Validation.normalised`` (e.g. an app password without spaces); they are applied
    before saving. Errors stop the save; warnings and hints do not.
    """


@hookspec
def section_help(ctx: SectionContext, section_id: str, values: dict[str, Any]) -> Iterable[
    HelpText
] | None:
    """Context help for a section, e.g. a recognised provider's special cases.

    Collected; ordered by ``HelpText.order``, then plugin name. ``values`` are the values
    as currently shown (stored or just typed).
    """


@hookspec
def user_actions(host: Host, section_id: str) -> Iterable[Action] | None:
    """Buttons on a section and their handlers (e.g. "Test-e-mail senden").

    Collected; ordered by ``Action.order``, then plugin name.
    """


@hookspec
def register_transports(register: Callable[[str, TransportFactory], None]) -> None:
    """Register mail transports by name: ``register("smtp", factory)``.

    Called once at start-up. A mailbox names its transport; ``Host.send`` looks it up.
    Registering a name twice is an error reported against the second plugin.
    """


@hookspec
def explain_delivery_error(failure: DeliveryFailure) -> Iterable[Explanation] | Explanation | None:
    """Explain a failed step of a delivery or test mail, in the admin's language.

    Collected from every plugin, then ranked by ``Explanation.specificity`` (a provider's
    explanation of its exact reply beats the generic one), ties by plugin name. Match on
    reply code, enhanced status code and the distinguishing words, never the whole line.
    """


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

    First result; the outbox keeps within them and falls back to defaults.
    """


@hookspec
def register_web_routes(app: Any) -> None:
    """Add routes to the web app (a Flask app), e.g. an OAuth callback.

    Called once when the app is built. Routes are under the plugin's own URL prefix.
    """


@hookspec
def register_commands(cli: click.Group) -> None:
    """Add commands to the ``falcana`` command line (``falcana mail ...``).

    Called once when the CLI starts, after plugins were loaded.
    """


@hookspec
def migrations() -> Path | None:
    """The directory of this plugin's Alembic migrations (with an ``env.py``).

    Collected; each plugin's migrations run with a version table of its own
    (``alembic_version_<plugin>``), core first, then in dependency order.
    """


@hookspec
def locale_dir() -> Path | None:
    """The directory of this plugin's gettext catalogs (``<lang>/LC_MESSAGES/*.po``).

    Collected; used to list and check the translations a deployment has.
    """


@hookspec
def oauth_providers(host: Host) -> Iterable[OAuthProvider] | None:
    """OAuth2 clients for SMTP sign-in (XOAUTH2) that a provider plugin configures.

    Collected; each names the detected providers it signs in for (``serves``) and is
    usually built from the plugin's deployment settings (client id, secret, tenant). Return
    nothing while the admin has not configured a client.
    """


@hookspec(firstresult=True)
def current_user(host: Host, request: Any) -> User | None:
    """The user of a web request, for a host application with its own authentication.

    First result; when every plugin returns None the core's own login applies.
    """
