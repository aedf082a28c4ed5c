"""What a plugin contributes to a settings page: sections, fields, validation, help, actions.

Modelled on pretix's payment providers: a section describes its fields and knows how to
load, validate and save its values; other plugins add validation and help to it through
hooks. The web UI, the CLI and the Python API all go through the one ``Host.save_section``
path, so a value is checked the same way wherever it comes from.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from falcana_core.addresses import has_control_chars
from falcana_core.i18n import Domain, Text
from falcana_core.store import Store

if TYPE_CHECKING:
    from email.message import EmailMessage

    from sqlalchemy import Engine

    from falcana_core.delivery import DeliveryFailure, Explanation
    from falcana_core.health import HealthView
    from falcana_core.models import Mailbox, User
    from falcana_core.outbox import Outbox
    from falcana_core.permissions import Actor
    from falcana_core.secretbox import SecretStore
    from falcana_core.transports import SendResult, Transport
    from falcana_core.users import Mailboxes, Users

T = TypeVar("T")


_ = Domain("core", Path(__file__).parent / "locale")


class FieldType(enum.StrEnum):
    TEXT = "text"
    EMAIL = "email"
    PASSWORD = "password"  # write-only: never rendered back
    INTEGER = "integer"
    CHOICE = "choice"
    BOOLEAN = "boolean"


@dataclasses.dataclass(frozen=True)
class Choice:
    value: str
    label: Text
    admin_only: bool = False  # only an admin may choose it (e.g. domain-wide delegation)
    # (other field id, its values): offered only while the other field has one of these
    # (the password sign-in while the transport is SMTP); see Field.shown_when
    shown_when: tuple[str, Sequence[str]] | None = None


@dataclasses.dataclass(frozen=True)
class Field:
    """One input of a section. ``id`` is stable: explanations and errors name it."""

    id: str
    label: Text
    type: FieldType = FieldType.TEXT
    help: Text | None = None
    placeholder: Text | None = None
    choices: Sequence[Choice] = ()
    suggestions: Sequence[str] = ()
    required: bool = False
    # (other field id, {its value: this field's value}): until the user types here, the
    # form fills this field from the other one (the port that goes with a connection type)
    follows: tuple[str, Mapping[str, str]] | None = None
    admin_only: bool = False  # only an admin may change it (falcana_core.permissions)
    # a checkbox the form unticks when one of these fields changes or is filled in: a
    # permission bound to them (a password allowed for one more server), given again
    # for a new value, never carried over to it
    cleared_by: Sequence[str] = ()
    # (other field id, its values): the field is shown only while the other one has one
    # of these values (the SMTP fields while the transport is SMTP); hidden, it keeps its
    # stored value
    shown_when: tuple[str, Sequence[str]] | None = None
    # declared checks, run by the core before the section's own ``validate`` (see
    # ``check_declared``): the longest value, line breaks allowed (a key in PEM or JSON;
    # other control characters never are), and a regular expression the whole value
    # must match, with the message that says what is expected
    max_length: int | None = None
    multiline: bool = False
    #: a change of this field may change what the section recognises and its help (the
    #: address: a provider): the page asks again, before anything is saved
    refreshes_help: bool = False
    pattern: str | None = None
    pattern_message: Text | None = None

    @property
    def write_only(self) -> bool:
        return self.type is FieldType.PASSWORD


class Severity(enum.StrEnum):
    ERROR = "error"
    WARNING = "warning"
    HINT = "hint"


@dataclasses.dataclass(frozen=True)
class Message:
    """A validation result for one field (``field`` None: the whole section)."""

    field: str | None
    severity: Severity
    text: Text
    code: str = ""


@dataclasses.dataclass
class Validation:
    """Collected messages plus normalised values a validator wants to replace."""

    messages: list[Message] = dataclasses.field(default_factory=list)
    normalised: dict[str, Any] = dataclasses.field(default_factory=dict)

    def error(self, field: str | None, text: Text, code: str = "") -> None:
        self.messages.append(Message(field, Severity.ERROR, text, code))

    def warning(self, field: str | None, text: Text, code: str = "") -> None:
        self.messages.append(Message(field, Severity.WARNING, text, code))

    def hint(self, field: str | None, text: Text, code: str = "") -> None:
        self.messages.append(Message(field, Severity.HINT, text, code))

    def extend(self, other: Validation) -> None:
        self.messages.extend(other.messages)
        self.normalised.update(other.normalised)

    @property
    def errors(self) -> list[Message]:
        return [m for m in self.messages if m.severity is Severity.ERROR]

    @property
    def warnings(self) -> list[Message]:
        return [m for m in self.messages if m.severity is Severity.WARNING]

    @property
    def ok(self) -> bool:
        return not self.errors

    def for_field(self, field: str) -> list[Message]:
        return [m for m in self.messages if m.field == field]


_TEXT_TYPES = (FieldType.TEXT, FieldType.EMAIL, FieldType.PASSWORD)
_LINE_BREAKS = str.maketrans("", "", "\r\n\t")


def check_declared(fields: Sequence[Field], values: Mapping[str, Any]) -> Validation:
    """The checks a section's fields declare, the same for every section: text is text,
    no control characters (line breaks only where ``multiline``), at most
    ``max_length`` characters, the whole value matching ``pattern``."""
    import re

    v = Validation()
    for field in fields:
        raw = values.get(field.id)
        if field.type not in _TEXT_TYPES or raw is None or raw == "":
            continue
        if not isinstance(raw, str):
            v.error(field.id, _("Enter text."), "type")
        elif has_control_chars(raw.translate(_LINE_BREAKS) if field.multiline else raw):
            v.error(field.id, _("Control characters such as line breaks are not allowed."),
                    "control_chars")
        elif field.max_length is not None and len(raw) > field.max_length:
            v.error(field.id, _("At most {n} characters.", n=field.max_length), "too_long")
        elif field.pattern is not None and not re.fullmatch(field.pattern, raw.strip()):
            v.error(field.id, field.pattern_message or _("This value has the wrong form."),
                    "pattern")
    return v


@dataclasses.dataclass(frozen=True)
class SectionContext:
    """What a section needs to know about where it is shown."""

    host: PluginHost
    mailbox: Mailbox | None
    user: User | None  # the mailbox's user, for personal mailboxes
    actor: str  # who is acting (a login, "cli", "api"): for the audit log
    admin: bool = True  # the actor's rights (falcana_core.permissions): actions check it


@dataclasses.dataclass(frozen=True)
class HelpText:
    """Context help shown in a section, e.g. a provider's special cases."""

    id: str
    title: Text
    body: Text  # may contain simple HTML (<p>, <ol>, <li>, <a>, <strong>)
    last_checked: str | None = None  # ISO date the facts were last checked
    sources: Sequence[tuple[Text, str]] = ()  # (label, url)
    order: int = 100


@dataclasses.dataclass(frozen=True)
class Action:
    """A button on a section, e.g. "Test-e-mail senden"."""

    id: str
    label: Text
    section: str
    handler: Callable[[SectionContext, Mapping[str, Any]], Any]
    order: int = 100
    #: shown only where this says yes (e.g. "sign in" only to the mailbox's own user)
    available: Callable[[SectionContext], bool] | None = None
    #: a field id: the button sits beside that field instead of with the others
    beside: str | None = None
    #: a field id: the button presses itself when the field beside it changes while this
    #: one is empty ("Einstellungen ermitteln" once an address is typed and no server yet)
    auto_when_empty: str | None = None
    #: inputs of the action itself, shown beside its button and sent with it (the test
    #: e-mail's recipient); never stored
    inputs: Sequence[Field] = ()
    #: counts against the per-user limit of connection tests (``FALCANA_ACTIONS_PER_MINUTE``
    #: in the web UI); an action that only helps to fill in a form ("Einstellungen
    #: ermitteln", with its own time budget and cache) has a looser limit of its own
    rate_limited: bool = True
    #: the plugin's template for the handler's result, ``"<plugin>/<file>"`` from the
    #: plugin package's ``templates/`` folder; without one the page shows the result's
    #: ``message`` (or follows its ``redirect``)
    template: str | None = None

    def is_available(self, ctx: SectionContext) -> bool:
        return self.available is None or bool(self.available(ctx))


class Section(Protocol):
    """A block of settings contributed by a plugin.

    ``values`` are plain Python values keyed by field id; a password field's value is
    ``None`` when it is not to be changed (write-only fields are never loaded back).
    """

    id: str
    title: Text
    order: int
    #: a plugin's own Jinja2 template (``"<plugin>/<file>"``, from its package's
    #: ``templates/``; it may extend ``section.html``), or None for the core's
    template: str | None

    def fields(self, ctx: SectionContext) -> Sequence[Field]: ...

    def load(self, ctx: SectionContext) -> dict[str, Any]: ...

    def is_set(self, ctx: SectionContext, field_id: str) -> bool:
        """For write-only fields: is a value stored?"""
        ...

    def validate(self, ctx: SectionContext, values: Mapping[str, Any]) -> Validation: ...

    def save(self, ctx: SectionContext, values: Mapping[str, Any]) -> dict[str, Any]:
        """Store ``values`` (already validated); return the changes for the audit log."""
        ...


class ShownSection:
    """A section that only shows (no fields, nothing to save): set ``id``, ``title``,
    ``order`` and its ``template``; the rest of ``Section`` is here."""

    id: str
    title: Text
    order: int = 100
    template: str | None = None

    def fields(self, ctx: SectionContext) -> Sequence[Field]:
        return ()

    def load(self, ctx: SectionContext) -> dict[str, Any]:
        return {}

    def is_set(self, ctx: SectionContext, field_id: str) -> bool:
        return False

    def validate(self, ctx: SectionContext, values: Mapping[str, Any]) -> Validation:
        return Validation()

    def save(self, ctx: SectionContext, values: Mapping[str, Any]) -> dict[str, Any]:
        return {}


@dataclasses.dataclass
class SaveResult:
    saved: bool
    validation: Validation
    values: dict[str, Any]
    changes: dict[str, Any] = dataclasses.field(default_factory=dict)


def check_admin_only(fields: Sequence[Field], current: Mapping[str, Any],
                     wanted: Mapping[str, Any]) -> Validation:
    """Errors for every admin-only field (or admin-only choice) a non-admin would change.

    ``current`` is what is stored, ``wanted`` the normalised values of this save; a value
    left as it is passes, so a user may save a form that shows an admin's choice.
    """
    v = Validation()
    for field in fields:
        if field.id not in wanted or field.write_only:
            continue
        old, new = current.get(field.id), wanted[field.id]
        if _same(old, new):
            continue
        if field.admin_only:
            v.error(field.id, _("Only an admin may change this."), "admin_only")
        elif field.type is FieldType.CHOICE and any(
                c.value == new and c.admin_only for c in field.choices):
            v.error(field.id, _("Only an admin may choose this."), "admin_only")
    return v


def _same(old: Any, new: Any) -> bool:
    """Equal as stored, case included: ``ANNA@firma.de`` is another address to the
    receiving server, so a user may not switch to it (only "" and None are the same)."""
    if old is None or new is None:
        return old == new or (old in (None, "") and new in (None, ""))
    return str(old).strip() == str(new).strip()


class HookCaller(Protocol):
    def call(self, hook_name: str, **kwargs: Any) -> Any:
        """Call a hook as its spec declares (``falcana_core.plugins.Hooks.call``)."""
        ...


class PluginHost(Store, Protocol):
    """The host as a plugin sees it (``falcana_core.api.Host``): what a section, an action
    and every hook may use. The running host (``falcana_core.host.Host``) is one; this
    contract is declared here, beside the sections it hands out, so that the modules the
    host is built of never name the host itself. Its store (settings, sessions, audit
    log, transactions) is what the host's own services take."""

    @property
    def engine(self) -> Engine: ...
    @property
    def secrets(self) -> SecretStore: ...
    @property
    def users(self) -> Users: ...
    @property
    def mailboxes(self) -> Mailboxes: ...
    @property
    def outbox(self) -> Outbox: ...
    @property
    def health(self) -> HealthView: ...
    @property
    def hook(self) -> HookCaller: ...

    def service(self, name: str, factory: Callable[[PluginHost], T]) -> T: ...
    def provide(self, name: str, service: object) -> None: ...
    def close(self) -> None: ...

    def setting(self, owner: str, key: str, default: Any = None) -> Any: ...
    def set_setting(self, owner: str, key: str, value: Any, *, actor: str) -> None: ...
    def actor(self, name: str) -> Actor: ...
    def may_edit(self, actor: str, mailbox: Mailbox | None) -> bool: ...
    def context(self, mailbox: Mailbox | None, actor: str) -> SectionContext: ...

    def sections(self) -> list[Section]: ...
    def section(self, section_id: str) -> Section: ...
    def section_values(self, mailbox: Mailbox | None, section_id: str) -> dict[str, Any]: ...
    def validate_section(self, mailbox: Mailbox | None, section_id: str,
                         values: Mapping[str, Any], actor: str = "api") -> Validation: ...
    def save_section(self, mailbox: Mailbox | None, section_id: str,
                     values: Mapping[str, Any], *, actor: str) -> SaveResult: ...
    def section_help(self, mailbox: Mailbox | None, section_id: str,
                     values: Mapping[str, Any] | None = None) -> list[HelpText]: ...
    def actions(self, section_id: str) -> list[Action]: ...
    def action(self, action_id: str) -> Action | None: ...
    def run_action(self, mailbox: Mailbox | None, action_id: str,
                   params: Mapping[str, Any] | None = None, *, actor: str) -> Any: ...

    def step_label(self, step_id: str) -> Any: ...
    def explain(self, failure: DeliveryFailure) -> Explanation | None: ...
    def transports(self) -> list[str]: ...
    def transport(self, mailbox: Mailbox) -> Transport: ...
    def send(self, mailbox: Mailbox, message: EmailMessage) -> SendResult: ...
