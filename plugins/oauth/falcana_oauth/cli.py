"""``falcana mail migrate m365|gmail [--dry-run] [--rollback]``: move every mailbox that
still signs in with a password to app-only access or delegation (falcana_oauth.migrate)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from falcana_core.api import current_language
from falcana_core.api.cli import fail, mailbox, print_json
from falcana_core.api.cli import host as cli_host
from falcana_oauth.i18n import _

if TYPE_CHECKING:
    from falcana_oauth.migrate import Moved


def register(cli: click.Group) -> None:
    from falcana_smtp_settings.api import mail_commands

    mail_commands().add_command(migrate)


@click.command("migrate")
@click.argument("provider")
@click.argument("mailboxes", nargs=-1)
@click.option("--dry-run", is_flag=True,
              help="Sign each mailbox in the new way and send nothing; change nothing.")
@click.option("--rollback", is_flag=True,
              help="Give the mailboxes this command switched their previous settings back.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (version 1).")
def migrate(provider: str, mailboxes: tuple[str, ...], dry_run: bool, rollback: bool,
            as_json: bool) -> None:
    """Move the mailboxes of PROVIDER (m365, gmail) off their passwords: app-only access
    (Microsoft) or domain-wide delegation (Google Workspace), no user asked. Without
    --dry-run only the mailboxes whose sign-in the new way passed are switched. MAILBOXES
    (logins or addresses) limit it to those."""
    from rich.progress import Progress

    from falcana_oauth.migrate import Migration, NoClient

    if dry_run and rollback:
        fail(str(_("Choose --dry-run or --rollback, not both.")))
    h = cli_host()
    try:
        run = Migration(h, provider, actor="cli")
    except NoClient as exc:
        fail(str(exc))
    only = [int(mailbox(ref).id) for ref in mailboxes]
    found = run.migrated() if rollback else run.candidates(only)
    if rollback and only:
        found = [m for m in found if m.mailbox_id in only]
    with Progress(transient=True, disable=as_json or not sys.stderr.isatty()) as progress:
        task = progress.add_task(str(_("Mailboxes")), total=len(found))
        for moved in found:
            if rollback:
                run.rollback(moved)
            else:
                run.dry_run(moved)
                if not dry_run:
                    run.switch(moved)
            progress.advance(task)
    done = all(m.restored for m in found) if rollback else \
        all(m.passed and (dry_run or m.switched) for m in found)
    if as_json:
        print_json({"version": 1, "provider": run.provider.id, "to": run.method,
                    "dry_run": dry_run, "rollback": rollback,
                    "mailboxes": [m.as_dict() for m in found]})
    else:
        _print(found, dry_run=dry_run, rollback=rollback)
    sys.exit(0 if done else 1)


def _print(found: list[Moved], *, dry_run: bool, rollback: bool) -> None:
    from rich.console import Console
    from rich.table import Table

    lang = current_language()
    table = Table(str(_("Address")), str(_("Provider")), str(_("Days left")),
                  str(_("New sign-in")), str(_("Result")))
    for m in found:
        table.add_row(m.address, m.provider or "-",
                      "-" if m.days_left is None else str(m.days_left),
                      m.to or "-", _outcome(m, rollback, lang))
    Console(width=160).print(table)
    if rollback:
        summary = _("{done} of {total} mailboxes have their previous settings back.",
                    done=sum(m.restored for m in found), total=len(found))
    elif dry_run:
        summary = _("{passed} of {total} mailboxes signed in the new way; nothing was "
                    "changed.", passed=sum(bool(m.passed) for m in found), total=len(found))
    else:
        summary = _("{switched} of {total} mailboxes switched; the others keep their "
                    "password.", switched=sum(m.switched for m in found), total=len(found))
    click.echo(str(summary))


def _outcome(m: Moved, rollback: bool, lang: str) -> str:
    if rollback:
        return str(_("restored")) if m.restored else _failed(m)
    if m.to is None:
        return str(_("needs the user's own sign-in (consent link)"))
    if m.switched:
        return str(_("switched"))
    return str(_("passed")) if m.passed else _failed(m)


def _failed(m: Moved) -> str:
    failure = m.failure or {}
    why = (failure.get("explanation") or {}).get("cause", "")
    return f"{_('failed')} ({failure.get('step') or '-'}): {why}"
