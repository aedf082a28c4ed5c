"""Every hook the host core offers, in one place, each documented.

How the host calls a hook is part of its spec (``falcana_core.hookspec``), and one
dispatcher (``falcana_core.plugins.Hooks.call``) calls every hook, the core's and those a
plugin publishes, the same way:

* Implementations run one by one in **plugin-name order**. One that raises is logged and
  skipped; the others' results still arrive. Implementations may not be wrappers.
* A *collecting* hook (the default) gathers every result other than ``None``; a list is
  taken item by item. Where results have an ``order`` attribute they are sorted by it,
  then by plugin name.
* A *first-result* hook stops at the first implementation that returns something other
  than ``None``: later implementations are not called.
* A *chained* hook passes each result on as the named argument of the next
  implementation; the last value is the result.
* Implementations take only the arguments they need, and never default values (pluggy
  ignores them).
* ``host`` is the running host, typed as ``falcana_core.api.Host``: its contract for
  plugins (what a plugin may use of it, ``falcana_core.sections.PluginHost``).

docs/hooks.md is the reference; a test keeps the two in step. ``migrations/`` and
``locale/`` folders are found in a plugin's package by convention: no hook needed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from falcana_core import hookspec

if TYPE_CHECKING:
    import click

    from falcana_core.delivery import DeliveryFailure, Explanation
    from falcana_core.duties import Duty
    from falcana_core.health import HealthReport, HealthState, Notice
    from falcana_core.i18n import Text
    from falcana_core.models import Mailbox, User
    from falcana_core.net.guard import RegisterClient
    from falcana_core.routes import Route
    from falcana_core.sections import (
        Action,
        HelpText,
        Section,
        SectionContext,
        Validation,
    )
    from falcana_core.sections import PluginHost as Host
    from falcana_core.transports import FollowUp, Transport

#: what a plugin registers to make a mailbox's transport (hook ``register_transports``)
TransportFactory = Callable[["Host", "Mailbox"], "Transport"]


class RegisterTransport(Protocol):
    """The ``register`` a ``register_transports`` hook receives."""

    def __call__(self, name: str, factory: TransportFactory, *,
                 default: bool = False) -> None: ...


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
def user_actions(host: Host) -> Iterable[Action] | None:
    """Buttons on sections and their handlers (e.g. "Test-e-mail senden").

    Collected; ``Action.section`` names the section a button belongs to; ordered by
    ``Action.order``, then plugin name.
    """


@hookspec
def register_transports(register: RegisterTransport) -> None:
    """Register mail transports by name: ``register("smtp", factory, default=True)``.

    Called once at start-up. A mailbox names its transport; ``Host.send`` looks it up. A
    mailbox that names none uses the default: the first transport registered with
    ``default=True`` (the SMTP plugin's), else the first registered. Transports a mailbox
    must choose (a mail API such as ``graph``) register without it. Registering a name
    twice is an error reported against the second plugin.
    """


@hookspec
def register_outgoing_clients(register: RegisterClient) -> None:
    """Declare each kind of outgoing connection your plugin opens:
    ``register("imap.copy", "the copy in Sent: IMAP LOGIN, LIST, SEARCH, APPEND")``.

    Every connection goes through the core's gate (``falcana_core.api.net``: the
    destination policy, the one trust store, the work's deadline by ``ConnectionGuard`` or
    ``PolicyHttp.within``, SIGTERM, a read budget). The hostile-server test suite has a
    row for each name declared here and fails for a client it does not cover: declare
    yours, and give it a row through the test kit (docs/security.md).
    """


@hookspec
def step_labels() -> Mapping[str, Text] | None:
    """Names for people of the steps your connections record (``{"login": _("Login")}``),
    of the states of your steps after delivery (``"<duty>.pending"``, ``.done``,
    ``.failed``: "filed in Sent"), and of what you learn of a recipient later
    (``"recipient.<status>"``, the status you give ``Outbox.recipient_learned``:
    "undeliverable").

    Collected; the step log and the outbox show them (the id stays the stable key). A step
    id with a protocol prefix ("imap.login") is shown as "IMAP: " and the label of "login".
    """


@hookspec
def explain_delivery_error(failure: DeliveryFailure) -> Explanation | None:
    """Explain a failed step of a delivery or test mail, in the admin's language.

    Collected from every plugin, then ranked by ``Explanation.specificity`` (a provider's
    explanation of its exact reply beats the generic one), ties by plugin name. Match on
    reply code, enhanced status code and the distinguishing words, never the whole line.
    """


@hookspec
def after_delivery(host: Host, mailbox: Mailbox) -> Iterable[FollowUp] | None:
    """Durable steps after this mailbox's messages were delivered (the copy in Sent).

    Collected. When the server accepted a message, the outbox records one due step per
    ``FollowUp.duty`` in the same commit, and later calls ``run(messages)`` with a batch
    of the mailbox's due ones (``Delivered``: content, Message-ID, send time,
    ``look_first``), beside the mailbox's sending, and ``close()`` after a pass. ``run``
    returns one result per message (None: done; a ``DeliveryError``: retried with
    back-off): never re-sending the mail, exactly once per message after a crash as long
    as ``run`` looks first when told to. Return nothing for a mailbox that needs no such
    step.
    """


@hookspec
def mailbox_notices(host: Host, mailbox: Mailbox) -> Iterable[Notice] | None:
    """What you know ahead that will stop this mailbox sending: a client secret that runs
    out, a sign-in method the provider switches off (``Notice``: cause, fix, due date,
    warning window, the field or button that fixes it).

    Collected; ordered by ``Notice.order``, then plugin name. Called when the worker
    verifies the mailbox and whenever its health is shown (the popup, ``falcana mailboxes
    health``): read your own tables, open no connection. Return nothing for a mailbox you
    have nothing to say about. A notice that falls due within its window makes an
    otherwise passing mailbox ``warning``.
    """


@hookspec
def mailbox_health_changed(host: Host, mailbox: Mailbox, before: HealthState,
                           after: HealthReport) -> None:
    """A mailbox's health state changed (``ok``, ``warning``, ``broken``, ``unknown``):
    tell its user, open a ticket, page someone.

    Collected (results ignored); called after the change was committed, by the worker
    that verified the mailbox or the sending that found it broken. ``after`` holds the
    reason (the failed step and its explanation) and the notices. Keep it short: the
    worker waits for it.
    """


@hookspec
def worker_duties(host: Host) -> Iterable[Duty] | None:
    """Periodic work per mailbox the worker does beside sending (``falcana_core.duties``):
    reading an inbox for delivery reports, say.

    Collected once when a worker pass starts. The worker asks each duty what is ``due``,
    ``claim``s each mailbox (only one worker wins) and ``run``s it in a slot of its own.
    ``FALCANA_WORKER_DUTIES=off`` leaves every duty to the command line.
    """


@hookspec
def register_routes(host: Host) -> list[Route | tuple[Any, ...]] | None:
    """Web routes of this plugin: ``Route`` objects or ``(rule, view)`` pairs.

    Collected; the host mounts them under ``/plugins/<plugin name>`` (endpoint
    ``<plugin name>.<view name>``), so a plugin never sees the whole web app. Called once
    when the app is built.
    """


@hookspec
def register_commands(cli: click.Group) -> None:
    """Add commands to the ``falcana`` command line (``falcana mail ...``).

    Called once when the CLI starts, after plugins were loaded.
    """


@hookspec(firstresult=True)
def current_user(host: Host, request: Any) -> User | None:
    """The user of a web request, for a host application with its own authentication.

    First result; when every plugin returns None the core's own login applies.
    """
