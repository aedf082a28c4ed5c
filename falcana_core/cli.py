"""The ``falcana`` command line. Plugins add commands through the ``register_commands`` hook.

Scriptable: ``--json`` wherever a listing is printed, exit 0 on success, non-zero with a
clear message on bad input. Secrets come from stdin or a prompt, never the command line.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from falcana_core import __version__, click_words
from falcana_core.cli_support import (
    CliState,
    echo_input_errors,
    fail,
    host,
    mailbox,
    print_json,
    read_secret,
    state,
)
from falcana_core.config import Config, ConfigError
from falcana_core.health_cli import health_command
from falcana_core.i18n import Domain, set_language

if TYPE_CHECKING:
    from falcana_core.plugins import Plugins
    from falcana_core.secretbox import SecretStore

F = TypeVar("F", bound=Callable[..., Any])

_ = Domain("core", Path(__file__).parent / "locale")
click_words.install()  # before the decorators below: some of click's words are set there


def user_field(field: str | None) -> str:
    """A user's field by its label (the CLI's errors name fields as the web UI does)."""
    labels = {"login": _("Login"), "first_name": _("First name"), "last_name": _("Last name"),
              "email": _("E-mail"), "role": _("Role"), "external_id": _("External id"),
              "display_name": _("Display name"), "password": _("Password")}
    return str(labels.get(field or "", field or ""))


@contextlib.contextmanager
def database_errors_in_one_line() -> Iterator[None]:
    """Database trouble (a busy SQLite file, a lost server) is one line, never a traceback
    with SQL and parameters. The database layer is imported only when something failed."""
    try:
        yield
    except (click.exceptions.Exit, click.ClickException, click.Abort):
        raise  # --help, usage errors: no database involved
    except Exception as exc:
        from sqlalchemy.exc import OperationalError

        if not isinstance(exc, OperationalError):
            raise
        from falcana_core.db import describe_error

        fail(describe_error(exc), 1)


class FalcanaGroup(click.Group):
    """Every command's database trouble in one line (``database_errors_in_one_line``)."""

    def invoke(self, ctx: click.Context) -> Any:
        with database_errors_in_one_line():
            return super().invoke(ctx)


@click.group(cls=FalcanaGroup)
@click.version_option(__version__, prog_name="falcana")
def cli() -> None:
    """falcana mail: send e-mail as each user, through that user's own mailbox."""


# -- config -------------------------------------------------------------------------------

@cli.command("config")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def config_cmd(as_json: bool) -> None:
    """Print the effective configuration (secrets masked)."""
    values = state().config.masked()
    if as_json:
        print_json(values)
        return
    for key, value in values.items():
        click.echo(f"{key}={value}")


# -- plugins ------------------------------------------------------------------------------

@cli.group("plugins")
def plugins_group() -> None:
    """List, enable and disable plugins."""


@plugins_group.command("list")
@click.option("--hook", "hook_name", default=None, help="Only plugins implementing this hook.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def plugins_list(hook_name: str | None, as_json: bool) -> None:
    """Installed plugins: version, distribution, status, hooks, load errors."""
    infos = state().plugins.all()
    if hook_name:
        infos = [i for i in infos if hook_name in i.hooks]
    if as_json:
        print_json([i.as_dict() for i in infos])
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("name", "version", "distribution", "status", "hooks", "reason")
    for i in infos:
        table.add_row(i.name, i.version, i.distribution or "", i.status.value,
                      ", ".join(i.hooks), i.reason)
    Console(width=200).print(table)


@plugins_group.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def plugins_show(name: str, as_json: bool) -> None:
    """One plugin: what it is, what it needs, and what it adds (sections, fields and their
    help, buttons, step names). For its explanations of server replies: `falcana mail
    explain`."""
    from falcana_core.plugin_report import describe

    try:
        report = describe(host(), name)
    except LookupError:
        fail(str(_("No plugin named {name} is installed.", name=name)))
    if as_json:
        print_json(report)
        return
    echo = click.echo
    echo(f"{report['name']} {report['version']} ({report['distribution'] or '-'})")
    if report["summary"]:
        echo(report["summary"])
    status = {"enabled": _("enabled"), "disabled": _("disabled"),
              "blocked": _("blocked (FALCANA_DISABLE_PLUGINS)"),
              "failed": _("not loaded (error)")}.get(report["status"], report["status"])
    echo(str(_("Status: {status}", status=status))
         + (f" ({report['reason']})" if report["reason"] else ""))
    echo(str(_("Needs: {names}", names=", ".join(report["depends"]) or "-")))
    echo(str(_("Needed by: {names}", names=", ".join(report["needed_by"]) or "-")))
    echo(str(_("Hooks: {names}", names=", ".join(report["hooks"]) or "-")))
    for section in report["sections"]:
        scope = (_("Deployment settings") if section["scope"] == "deployment"
                 else _("mailbox settings"))
        echo("")
        echo(f"{section['title']} [{section['id']}] - {scope}")
        for field in section["fields"]:
            echo(f"  {field['label']} ({field['id']})")
            if field["help"]:
                echo(f"      {field['help']}")
    if report["actions"]:
        echo("")
        echo(str(_("Buttons:")))
        for action in report["actions"]:
            echo(f"  {action['label']} ({action['id']}, {action['section']})")
    if report["steps"]:
        echo("")
        echo(str(_("Steps:")))
        for step, label in report["steps"].items():
            echo(f"  {label} ({step})")


def _set_enabled(name: str, enabled: bool) -> None:
    try:
        host().set_plugin_enabled(name, enabled, actor="cli")
    except (LookupError, ValueError) as exc:
        fail(str(exc))
    click.echo(str(_("Plugin {name} enabled; this takes effect when falcana next starts.",
                     name=name) if enabled else
                   _("Plugin {name} disabled; this takes effect when falcana next starts.",
                     name=name)))


@plugins_group.command("enable")
@click.argument("name")
def plugins_enable(name: str) -> None:
    """Enable a plugin for this deployment."""
    _set_enabled(name, True)


@plugins_group.command("disable")
@click.argument("name")
def plugins_disable(name: str) -> None:
    """Disable a plugin for this deployment (essential plugins cannot be disabled)."""
    _set_enabled(name, False)


# -- users --------------------------------------------------------------------------------

@cli.group("users")
def users_group() -> None:
    """Manage users (each gets a personal mailbox)."""


@users_group.command("add")
@click.argument("login")
@click.option("--first-name", default="")
@click.option("--last-name", default="")
@click.option("--email", default="")
@click.option("--admin", is_flag=True, help="Make the user an admin.")
@click.option("--external-id", default=None, help="The user's id in the host application.")
@click.option("--password-stdin", is_flag=True, help="Read a login password from stdin.")
def users_add(login: str, first_name: str, last_name: str, email: str, admin: bool,
              external_id: str | None, password_stdin: bool) -> None:
    """Add a user and the user's personal mailbox."""
    from falcana_core.users import InputError

    password = read_secret("Password", True) if password_stdin else None
    try:
        user = host().users.add(login, first_name=first_name, last_name=last_name,
                                email=email, role="admin" if admin else "user",
                                password=password, external_id=external_id, actor="cli")
    except InputError as exc:
        fail(f"{user_field(exc.field)}: {exc.message}")
    click.echo(str(_("User {login} added (id {id}).", login=user.login, id=user.id)))


@users_group.command("list")
@click.option("--search", default="")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def users_list(search: str, as_json: bool) -> None:
    """List users."""
    users, _total = host().users.list(search, limit=1_000_000)
    rows = [{"id": u.id, "login": u.login, "first_name": u.first_name,
             "last_name": u.last_name, "email": u.email, "role": u.role, "active": u.active,
             "external_id": u.external_id} for u in users]
    if as_json:
        print_json(rows)
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("id", "login", "name", "e-mail", "role")
    for r in rows:
        table.add_row(str(r["id"]), str(r["login"]), f"{r['first_name']} {r['last_name']}",
                      str(r["email"]), str(r["role"]))
    Console(width=200).print(table)


@users_group.command("set-role")
@click.argument("login")
@click.argument("role", type=click.Choice(["admin", "user"]))
def users_set_role(login: str, role: str) -> None:
    """Make a user an admin or a plain user."""
    from falcana_core.users import InputError

    try:
        host().users.set_role(login, role, actor="cli")
    except InputError as exc:
        fail(f"{user_field(exc.field)}: {exc.message}")
    click.echo(str(_("User {login} is now {role}.", login=login, role=role)))


# -- mailboxes and settings --------------------------------------------------------------

@cli.group("mailboxes")
def mailboxes_group() -> None:
    """Shared mailboxes (info@, team addresses); personal ones come with their user."""


@mailboxes_group.command("add")
@click.argument("address")
@click.option("--display-name", default="")
def mailboxes_add(address: str, display_name: str) -> None:
    """Add a shared mailbox; set it up with `falcana mail set ADDRESS ...`."""
    from falcana_core.users import InputError

    try:
        box = host().mailboxes.create_shared(address, display_name, actor="cli")
    except InputError as exc:
        fail(f"{user_field(exc.field)}: {exc.message}")
    click.echo(str(_("Shared mailbox {address} added (id {id}).", address=box.address,
                     id=box.id)))


@mailboxes_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def mailboxes_list(as_json: bool) -> None:
    """The shared mailboxes."""
    boxes = host().mailboxes.shared()
    if as_json:
        print_json([{"id": b.id, "address": b.address, "display_name": b.display_name}
                    for b in boxes])
        return
    for b in boxes:
        click.echo(f"{b.id:>5}  {b.address}  {b.display_name}")


mailboxes_group.add_command(health_command)


@cli.command("settings")
@click.argument("section_id", required=False)
@click.argument("assignments", nargs=-1, metavar="[FIELD=VALUE]...")
@click.option("--mailbox", "mailbox_ref", default=None,
              help="A user's login or a shared mailbox's address: a section of that "
                   "mailbox; without it, a deployment-wide section.")
@click.option("--secret-stdin", "secret_field", default=None, metavar="FIELD",
              help="Read this (write-only) field's value from stdin.")
def settings_cmd(section_id: str | None, assignments: tuple[str, ...],
                 mailbox_ref: str | None, secret_field: str | None) -> None:
    """Show or change any settings section, as the web UI does: `falcana settings` lists
    them, `falcana settings oauth_microsoft client_id=...` changes fields (the same
    validation; nothing saved on error)."""
    h = host()
    box = mailbox(mailbox_ref) if mailbox_ref else None
    sections = h.sections() if box is not None else h.hook.deployment_settings_sections(h)
    if section_id is None:
        for each in sections:
            click.echo(f"{each.id:<20} {each.title}")
        return
    section = next((x for x in sections if x.id == section_id), None)
    if section is None:
        fail(str(_("No settings section {id} here (falcana settings lists them).",
                   id=section_id)))
    ctx = h.context(box, "cli")
    fields = {f.id: f for f in section.fields(ctx)}
    values = dict(section.load(ctx))
    for item in assignments:
        name, sep, value = item.partition("=")
        if not sep or name not in fields:
            fail(str(_("{item}: give FIELD=VALUE with one of {fields}.", item=item,
                       fields=", ".join(fields))))
        values[name] = value
    if secret_field:
        values[secret_field] = read_secret(secret_field, True)
    if not assignments and not secret_field:
        for fid, field in fields.items():
            shown = (_("set") if section.is_set(ctx, fid) else _("not set")) if (
                field.write_only) else values.get(fid)
            click.echo(f"{field.label}: {shown}")
        return
    result = h.save_section(box, section.id, values, actor="cli")
    labels = {fid: str(f.label) for fid, f in fields.items()}
    if not result.saved:
        echo_input_errors([(labels.get(m.field or "", m.field), str(m.text))
                           for m in result.validation.errors])
        sys.exit(2)
    click.echo(str(_("Saved.")) if result.changes else str(_("Nothing changed.")))


# -- database -----------------------------------------------------------------------------

@cli.group("db")
def db_group() -> None:
    """Database schema."""


@db_group.command("upgrade")
def db_upgrade() -> None:
    """Run the core's and every enabled plugin's migrations."""
    from falcana_core.db import make_engine
    from falcana_core.migrate import upgrade

    st = state()
    done = upgrade(make_engine(st.config.database_url), st.plugins)
    click.echo(str(_("Upgraded: {plugins}", plugins=", ".join(done))))


# -- keys ---------------------------------------------------------------------------------

@cli.group("keys")
def keys_group() -> None:
    """The key ring that encrypts stored secrets (add, rotate, retire)."""


def key_store() -> SecretStore:
    """The secret store without a full start: the key commands must work exactly when the
    ring and the database disagree (a missing key is what ``keys add --stdin`` repairs)."""
    from sqlalchemy.exc import OperationalError

    from falcana_core.db import make_engine, make_session_factory
    from falcana_core.migrate import upgrade
    from falcana_core.secretbox import SecretKeyError, SecretStore

    st = state()
    try:
        engine = make_engine(st.config.database_url)
        upgrade(engine, st.plugins)
        return SecretStore.open(make_session_factory(engine), env_key=st.config.secret_key,
                                key_file=st.config.key_file, repair=True)
    except SecretKeyError as exc:
        fail(str(exc), 1)
    except OperationalError as exc:
        url = st.config.masked()["FALCANA_DATABASE_URL"]
        fail(str(_("Cannot open the database {url}: {error}", url=url,
                   error=exc.orig or exc.__class__.__name__)), 1)


@keys_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def keys_list(as_json: bool) -> None:
    """Keys the database knows, which is primary, how many secrets each encrypts."""
    rows = key_store().key_status()
    if as_json:
        print_json(rows)
        return
    for r in rows:
        flags = [f for f, on in (("primary", r["primary"]), ("retired", r["retired"]),
                                 ("NOT IN THIS RING", not r["in_this_ring"])) if on]
        click.echo(f"{r['key_id']}  secrets={r['secrets']}  {' '.join(flags)}")


@keys_group.command("add")
@click.option("--stdin", "from_stdin", is_flag=True,
              help="Add a key made on another machine, read from stdin.")
def keys_add(from_stdin: bool) -> None:
    """Phase 1: add a key to this machine's ring (it does not encrypt anything yet)."""
    from falcana_core.secretbox import SecretKeyError

    store = key_store()
    key = None
    if from_stdin:
        key = sys.stdin.readline().strip().encode()
        if not key:
            fail(str(_("No key on stdin: paste the key (one line), or leave out --stdin to "
                       "make a new one.")))
    try:
        kid, raw = store.add_key(key)
    except SecretKeyError as exc:
        fail(str(exc))
    except ValueError:
        fail(str(_("This is not a falcana key (32 url-safe base64-encoded bytes).")))
    if store.key_file is None and key is None:
        click.echo(str(_("FALCANA_SECRET_KEY is set, so no key file is written. Add this key "
                         "to FALCANA_SECRET_KEY (comma-separated) on every machine:")),
                   err=True)
        click.echo(raw.decode())
    click.echo(str(_("Key {key} added. Add it to every machine's key ring, then run "
                     "`falcana keys rotate`.", key=kid)), err=True)


@keys_group.command("rotate")
@click.option("--key", "key_id", default=None, help="The key to rotate to (default: newest).")
@click.option("--batch-size", default=500, show_default=True, type=click.IntRange(1, 100_000))
def keys_rotate(key_id: str | None, batch_size: int) -> None:
    """Phase 2: make the new key primary and re-encrypt every secret (safe to interrupt)."""
    from rich.progress import Progress

    from falcana_core.secretbox import SecretDecryptError, SecretKeyError

    store = key_store()
    try:
        with Progress(transient=False) as progress:
            task = progress.add_task("Re-encrypting secrets", total=None)

            def advance(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            count = store.rotate(key_id, batch_size=batch_size, progress=advance)
    except (SecretKeyError, SecretDecryptError) as exc:
        fail(str(exc))
    click.echo(str(_("{count} secret(s) re-encrypted with key {key}.", count=count,
                     key=store.primary)))


@keys_group.command("retire")
@click.argument("key_id")
def keys_retire(key_id: str) -> None:
    """Phase 3: remove a key no secret uses any more."""
    from falcana_core.secretbox import SecretKeyError

    try:
        key_store().retire(key_id)
    except SecretKeyError as exc:
        fail(str(exc))
    click.echo(str(_("Key {key} retired.", key=key_id)))


# -- outbox -------------------------------------------------------------------------------

@cli.command("worker")
@click.option("--once", is_flag=True, help="Deliver what is due, then exit (for cron).")
@click.option("--poll", default=2.0, show_default=True, type=click.FloatRange(0.05, 3600),
              help="Seconds between looks at an empty queue.")
@click.option("--quiet", is_flag=True, help="No progress display.")
@click.option("--concurrency", type=click.IntRange(1, 1000), default=None,
              help="Mailbox connections open at once (default: FALCANA_WORKER_CONCURRENCY, "
                   "else 16 per processor core, at most 64).")
def worker_cmd(once: bool, poll: float, quiet: bool, concurrency: int | None) -> None:
    """Deliver queued mail, many mailboxes at once; several workers may share a
    PostgreSQL queue."""
    import signal
    import threading

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from falcana_core.worker import Worker

    h = host()
    stop = threading.Event()
    worker: Worker | None = None

    def on_sigterm(*_: object) -> None:
        stop.set()
        if worker is not None:
            worker.stop()  # shuts the connections in hand: a trickling server cannot hold us

    signal.signal(signal.SIGTERM, on_sigterm)
    backlog = sum(n for k, n in h.outbox.counts().items() if k in ("queued", "deferred"))
    show = not quiet and backlog > 0 and sys.stderr.isatty()
    with Progress(TextColumn("Outbox"), BarColumn(), MofNCompleteColumn(),
                  disable=not show, transient=True) as progress:
        task = progress.add_task("deliver", total=backlog)
        worker = Worker(h, progress=lambda n: progress.advance(task, n),
                        concurrency=concurrency)
        try:
            handled = worker.run(once=once, poll=poll, stop=stop)
        except KeyboardInterrupt:
            handled = worker.sent
    counts = h.outbox.counts()
    click.echo(f"{handled} handled; " + ", ".join(f"{k} {v}" for k, v in counts.items() if v),
               err=True)


@cli.group("outbox")
def outbox_group() -> None:
    """Look at, retry and cancel queued mail."""


def _message_dict(m: Any) -> dict[str, Any]:
    return {"id": m.id, "mailbox": m.mailbox_id, "status": m.status,
            "message_id": m.message_id, "subject": m.subject, "attempts": m.attempts,
            "created_at": m.created_at.isoformat(),
            "next_attempt_at": m.next_attempt_at.isoformat() if m.status == "deferred" else None,
            "sent_at": m.sent_at.isoformat() if m.sent_at else None,
            "recipients": m.recipients, "last_error": m.last_error}


@outbox_group.command("list")
@click.option("--status", type=click.Choice(["queued", "sending", "sent", "deferred", "failed",
                                             "cancelled"]), default=None)
@click.option("--mailbox", "mailbox_ref", default=None, help="A login or a shared address.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--bounced", is_flag=True,
              help="Only messages with a recipient whose delivery report came back.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def outbox_list(status: str | None, mailbox_ref: str | None, limit: int, bounced: bool,
                as_json: bool) -> None:
    """Messages, newest first, with the counts per status."""
    h = host()
    mailbox_id = None
    if mailbox_ref:
        mailbox_id = mailbox(mailbox_ref).id
    rows = h.outbox.list(status=status, mailbox_id=mailbox_id, limit=limit,
                         recipient_status="bounced" if bounced else None)
    counts = h.outbox.counts(mailbox_id)
    if as_json:
        print_json({"counts": counts, "messages": [_message_dict(m) for m in rows]})
        return
    click.echo("  ".join(f"{k}: {v}" for k, v in counts.items()))
    for m in rows:
        error = (m.last_error or {}).get("explanation") or {}
        click.echo(f"{m.id:>7}  {m.status:<9}  box {m.mailbox_id:<5} {m.subject[:40]:<40}  "
                   f"{error.get('id', '')}")
        if bounced:
            for address, result in (m.recipients or {}).items():
                if str(result.get("status", "")).startswith("bounced"):
                    click.echo(f"         {address}: {result.get('status')} "
                               f"{result.get('status_code') or ''} "
                               f"{(result.get('diagnostic') or '')[:80]}")


class Age(click.ParamType):  # type: ignore[type-arg]
    """An age such as 90d, 12h or 30m (days, hours, minutes)."""

    name = "age"
    _UNITS = {"d": 86400, "h": 3600, "m": 60}

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> Any:
        import datetime as dt

        if isinstance(value, dt.timedelta):
            return value
        raw = str(value).strip().lower()
        unit = raw[-1:] if raw[-1:] in self._UNITS else "d"
        number = raw[:-1] if raw[-1:] in self._UNITS else raw
        if not number.isdigit() or int(number) == 0:
            self.fail(str(_("{value} is not an age such as 90d, 12h or 30m.",
                            value=repr(value))), param, ctx)
        return dt.timedelta(seconds=int(number) * self._UNITS[unit])


@outbox_group.command("purge")
@click.option("--older-than", "older_than", type=Age(), required=True,
              help="Age of the messages to delete: 90d, 12h, 30m.")
@click.option("--dry-run", is_flag=True, help="Only count what would be deleted.")
def outbox_purge(older_than: Any, dry_run: bool) -> None:
    """Delete sent, failed and cancelled messages older than an age (retention)."""
    count = host().outbox.purge(older_than, actor="cli", dry_run=dry_run)
    click.echo(str(_("{count} messages would be deleted.", count=count) if dry_run
                   else _("{count} messages deleted.", count=count)))


@outbox_group.command("show")
@click.argument("outbox_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def outbox_show(outbox_id: int, as_json: bool) -> None:
    """One message: status, recipients, the last error and its explanation."""
    m = host().outbox.get(outbox_id)
    if m is None:
        fail(str(_("No outbox message {id}.", id=outbox_id)))
    data = _message_dict(m)
    if as_json:
        print_json(data)
        return
    for key, value in data.items():
        if key not in ("recipients", "last_error"):
            click.echo(f"{key}: {value}")
    for address, result in (m.recipients or {}).items():
        # what a plugin learned later (a delivery report) comes with the server's text
        said = result.get("reply") or " ".join(
            str(result[k]) for k in ("status_code", "diagnostic") if result.get(k))
        click.echo(f"  {address}: {result.get('status')} {said}")
    if m.last_error:
        e = m.last_error.get("explanation") or {}
        click.echo(str(_("Last error at {step}: {reply}", step=m.last_error.get("step"),
                         reply=m.last_error.get("reply") or "")))
        if e:
            click.echo(f"  {e.get('cause')}\n  {e.get('fix')}")


@outbox_group.command("retry")
@click.argument("outbox_id", type=int)
def outbox_retry(outbox_id: int) -> None:
    """Try a deferred or failed message again now."""
    if not host().outbox.retry(outbox_id, actor="cli"):
        fail(str(_("Message {id} is not deferred or failed.", id=outbox_id)))
    click.echo(str(_("Message {id} queued again.", id=outbox_id)))


@outbox_group.command("cancel")
@click.argument("outbox_id", type=int)
def outbox_cancel(outbox_id: int) -> None:
    """Never send a message that is not sent yet."""
    if not host().outbox.cancel(outbox_id, actor="cli"):
        fail(str(_("Message {id} cannot be cancelled (sent, sending or cancelled).",
                   id=outbox_id)))
    click.echo(str(_("Message {id} cancelled.", id=outbox_id)))


# -- web ----------------------------------------------------------------------------------

@cli.command("serve")
@click.option("--bind", "address", default="127.0.0.1", show_default=True)
@click.option("--port", default=8025, show_default=True, type=click.IntRange(1, 65535))
@click.option("--threads", default=8, show_default=True, type=click.IntRange(1, 64))
def serve_cmd(address: str, port: int, threads: int) -> None:
    """Serve the admin web UI (waitress)."""
    from falcana_core.web import create_app
    from falcana_core.web.server import serve

    app = create_app(host())
    click.echo(str(_("falcana serves on {url}", url=f"http://{address}:{port}/")), err=True)
    serve(app, address, port, threads)


def build_cli(config: Config, plugins: Plugins) -> click.Group:
    plugins.hook.register_commands(cli)
    return cli


def main(argv: list[str] | None = None) -> None:
    """Entry point: load plugins (for their commands), then run the command line."""
    try:
        config = Config.from_env()
    except ConfigError as exc:
        fail(str(exc), 1)
    set_language(config.lang)
    from falcana_core.plugin_state import load_enabled_plugins

    with database_errors_in_one_line():
        plugins = load_enabled_plugins(config)
    group = build_cli(config, plugins)
    group.main(args=argv, prog_name="falcana", obj=CliState(config, plugins))
