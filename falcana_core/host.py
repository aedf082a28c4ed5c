"""The host: one object a host application (and our web UI and CLI) works through.

    host = Host.start()                       # configuration from the environment
    user = host.users.by_login("anna")
    box = host.mailboxes.personal(user)
    result = host.save_section(box, "smtp", {...}, actor="anna")
    host.run_action(box, "smtp.test", {}, actor="admin")
    host.send(box, message)
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Callable, Iterator, Mapping
from email.message import EmailMessage
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from falcana_core import permissions
from falcana_core.audit import AuditLog
from falcana_core.config import Config
from falcana_core.db import make_engine, make_session_factory, private_dir
from falcana_core.delivery import DeliveryFailure, Explanation
from falcana_core.general import users_may_edit_own
from falcana_core.i18n import Domain
from falcana_core.mailbox_health import Health
from falcana_core.models import DeploymentSetting, Mailbox, PluginState
from falcana_core.outbox import Outbox
from falcana_core.permissions import Actor
from falcana_core.plugin_state import load_enabled_plugins
from falcana_core.plugins import Candidate, Plugins
from falcana_core.secretbox import SecretStore
from falcana_core.sections import (
    Action,
    HelpText,
    SaveResult,
    Section,
    SectionContext,
    Validation,
    check_admin_only,
    check_declared,
)
from falcana_core.transports import SendResult, Transport
from falcana_core.users import Mailboxes, Users

log = logging.getLogger(__name__)
_ = Domain("core", Path(__file__).parent / "locale")
T = TypeVar("T")


class UnknownSection(LookupError):
    pass


class UnknownAction(LookupError):
    pass


class Host:
    """A running falcana: configuration, database, secrets and the loaded plugins."""

    def __init__(self, config: Config, engine: Engine, plugins: Plugins,
                 secrets: SecretStore | None = None) -> None:
        self.config = config
        self.engine = engine
        self.sessions: sessionmaker[Session] = make_session_factory(engine)
        self.plugins = plugins
        self.hook = plugins.hook
        self._secrets = secrets
        self.audit = AuditLog(self.sessions)
        self.users = Users(self)
        self.mailboxes = Mailboxes(self, self.users)
        self.outbox = Outbox(self)
        self.health = Health(self)
        self._services: dict[str, Any] = {}

    # -- start-up ----------------------------------------------------------------------

    @classmethod
    def start(cls, config: Config | None = None, *, migrate: bool = True,
              candidates: list[Candidate] | None = None,
              plugins: Plugins | None = None) -> Host:
        """Open the database, load the enabled plugins, migrate, check the key ring."""
        config = config or Config.from_env()
        private_dir(config.data_dir)  # hashes, queued mail, the audit log, the key file
        engine = make_engine(config.database_url)
        if plugins is None:
            plugins = load_enabled_plugins(config, engine, candidates)
        if migrate:
            from falcana_core.migrate import upgrade

            upgrade(engine, plugins)
        host = cls(config, engine, plugins)
        host._secrets = SecretStore.open(host.sessions, env_key=config.secret_key,
                                         key_file=config.key_file)
        return host

    def service(self, name: str, factory: Callable[[Host], T]) -> T:
        """A plugin's per-host object (say, the OAuth plugin's token service), made on first
        use and kept as long as the host: ``host.service("oauth", OAuth)``."""
        if name not in self._services:
            self._services[name] = factory(self)
        found: T = self._services[name]
        return found

    def provide(self, name: str, service: object) -> None:
        """Put a per-host object in place before first use (a test's own resolver)."""
        self._services[name] = service

    def close(self) -> None:
        self.engine.dispose()

    @property
    def secrets(self) -> SecretStore:
        if self._secrets is None:
            self._secrets = SecretStore.open(self.sessions, env_key=self.config.secret_key,
                                             key_file=self.config.key_file)
        return self._secrets

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session that commits on success and rolls back on error."""
        with self.sessions.begin() as s:
            yield s

    # -- plugins -----------------------------------------------------------------------

    def set_plugin_enabled(self, name: str, enabled: bool, *, actor: str) -> None:
        """Persist enable/disable; it takes effect when the host next starts."""
        info = self.plugins.get(name)
        if info is None:
            raise LookupError(str(_("No plugin named {name} is installed.", name=name)))
        if info.essential and not enabled:
            raise ValueError(str(_("The plugin {name} is essential and cannot be disabled.",
                                   name=name)))
        with self.transaction() as s:
            row = s.get(PluginState, name) or PluginState(name=name)
            row.enabled = enabled
            row.changed_by = actor
            s.add(row)
        self.audit.record(actor, "plugin.enable" if enabled else "plugin.disable",
                          "plugin", name)

    # -- deployment-wide settings -------------------------------------------------------

    def setting(self, owner: str, key: str, default: Any = None) -> Any:
        with self.sessions() as s:
            row = s.get(DeploymentSetting, (owner, key))
            return row.value.get("v", default) if row is not None else default

    def set_setting(self, owner: str, key: str, value: Any, *, actor: str) -> None:
        with self.transaction() as s:
            row = s.get(DeploymentSetting, (owner, key))
            old = row.value.get("v") if row is not None else None
            if row is None:
                row = DeploymentSetting(owner=owner, key=key)
                s.add(row)
            row.value, row.changed_by = {"v": value}, actor
        if old != value:
            self.audit.record(actor, "setting.change", "setting", f"{owner}.{key}",
                              {"value": [old, value]})

    # -- sections and actions ----------------------------------------------------------

    def actor(self, name: str) -> Actor:
        """Who ``name`` is and with which rights (falcana_core.permissions)."""
        return permissions.actor(self.users, name)

    def may_edit(self, actor: str, mailbox: Mailbox | None) -> bool:
        return permissions.may_edit(self.actor(actor), mailbox,
                                     users_edit_own=lambda: users_may_edit_own(self))

    def _require_edit(self, actor: str, mailbox: Mailbox | None) -> None:
        permissions.require_edit(self.actor(actor), mailbox,
                                 users_edit_own=lambda: users_may_edit_own(self))

    def context(self, mailbox: Mailbox | None, actor: str) -> SectionContext:
        user = None
        if mailbox is not None and mailbox.user_id is not None:
            user = self.users.get(mailbox.user_id)
        return SectionContext(self, mailbox, user, actor, self.actor(actor).is_admin)

    @functools.cached_property
    def _transports(self) -> dict[str, Any]:
        return self.hook.register_transports()

    def plugins_changed(self) -> None:
        """Forget what was gathered from plugins once (transports), after a plugin was
        registered or removed while the host runs (the test kit does this)."""
        self.__dict__.pop("_transports", None)
        self.__dict__.pop("_step_labels", None)

    def sections(self) -> list[Section]:
        return self.hook.user_settings_sections(self)

    def section(self, section_id: str) -> Section:
        for section in [*self.sections(), *self.hook.deployment_settings_sections(self)]:
            if section.id == section_id:
                return section
        raise UnknownSection(section_id)

    def section_values(self, mailbox: Mailbox | None, section_id: str) -> dict[str, Any]:
        return self.section(section_id).load(self.context(mailbox, "api"))

    def validate_section(self, mailbox: Mailbox | None, section_id: str,
                         values: Mapping[str, Any], actor: str = "api") -> Validation:
        """The one validation path: the checks the section's fields declare, the section's
        own, then other plugins', then what a non-admin may not change
        (falcana_core.permissions)."""
        section = self.section(section_id)
        ctx = self.context(mailbox, actor)
        declared = check_declared(section.fields(ctx), values)
        validation = section.validate(ctx, values)
        failed = {m.field for m in declared.errors}  # one message a field: the declared one
        validation.messages = [*declared.messages,
                               *(m for m in validation.messages if m.field not in failed)]
        current = {**values, **validation.normalised}
        if validation.ok:
            for extra in self.hook.validate_section(ctx, section_id, dict(current)):
                validation.extend(extra)
                current.update(extra.normalised)
        if not ctx.admin:
            stored = section.load(ctx)
            validation.extend(check_admin_only(section.fields(ctx), stored, current))
        validation.normalised = {k: v for k, v in current.items()
                                 if k not in values or values[k] != v}
        return validation

    def save_section(self, mailbox: Mailbox | None, section_id: str,
                     values: Mapping[str, Any], *, actor: str) -> SaveResult:
        """Validate, then save all or nothing; the change is audited (secrets as "changed").

        Raises ``Forbidden`` when ``actor`` may not change this mailbox's settings at all.
        """
        self._require_edit(actor, mailbox)
        validation = self.validate_section(mailbox, section_id, values, actor)
        merged = {**values, **validation.normalised}
        if not validation.ok:
            return SaveResult(False, validation, merged)
        section = self.section(section_id)
        changes = section.save(self.context(mailbox, actor), merged)
        if changes and mailbox is not None:
            self.outbox.resume(mailbox.id)  # changed settings are worth another try
            self.health.track(mailbox.id)  # and a verify, once typing is done
        if changes:
            self.audit.record(actor, f"section.{section_id}.save", "mailbox",
                              str(mailbox.id) if mailbox else "", changes)
        return SaveResult(True, validation, merged, changes)

    def section_help(self, mailbox: Mailbox | None, section_id: str,
                     values: Mapping[str, Any] | None = None) -> list[HelpText]:
        ctx = self.context(mailbox, "api")
        shown = dict(values) if values is not None else self.section(section_id).load(ctx)
        return self.hook.section_help(ctx, section_id, shown)

    def actions(self, section_id: str) -> list[Action]:
        return [a for a in self.hook.user_actions(self) if a.section == section_id]

    def action(self, action_id: str) -> Action | None:
        return next((a for a in self.hook.user_actions(self) if a.id == action_id), None)

    def run_action(self, mailbox: Mailbox | None, action_id: str,
                   params: Mapping[str, Any] | None = None, *, actor: str) -> Any:
        self._require_edit(actor, mailbox)
        ctx = self.context(mailbox, actor)
        for action in self.hook.user_actions(self):
            if action.id == action_id:
                if not action.is_available(ctx):
                    raise ValueError(f"the action {action_id} is not available here")
                return action.handler(ctx, params or {})
        raise UnknownAction(action_id)

    # -- explanations ------------------------------------------------------------------

    @functools.cached_property
    def _step_labels(self) -> dict[str, Any]:
        return self.hook.step_labels()

    def step_label(self, step_id: str) -> Any:
        """A step's name for people, as the plugin that records the step names it."""
        from falcana_core.delivery import step_label

        return step_label(self._step_labels, step_id)

    def explain(self, failure: DeliveryFailure) -> Explanation | None:
        """The most specific explanation any plugin has for a failed step."""
        from falcana_core.delivery import best_explanation

        return best_explanation(self.hook.explain_delivery_error(failure))

    # -- sending -----------------------------------------------------------------------

    def transports(self) -> list[str]:
        """The names of the registered transports, the default first."""
        return list(self._transports)

    def transport(self, mailbox: Mailbox) -> Transport:
        """The mailbox's transport; a mailbox that names none uses the default (see the
        hook ``register_transports``: the SMTP plugin's)."""
        name = mailbox.transport or next(iter(self._transports), "")
        factory = self._transports.get(name)
        if factory is None:
            raise LookupError(f"mailbox {mailbox.id} uses transport {name!r}, "
                              "which no enabled plugin provides")
        transport: Transport = factory(self, mailbox)
        return transport

    def send(self, mailbox: Mailbox, message: EmailMessage) -> SendResult:
        """Send one message through a mailbox now (the outbox queues and retries)."""
        connection = self.transport(mailbox).open()
        try:
            return connection.send(message)
        finally:
            connection.close()
