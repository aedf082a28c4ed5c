"""``falcana mail detect ADDRESS`` and ``falcana mail detect --from-users [--apply]``."""

from __future__ import annotations

import sys
from typing import Any

import click
from falcana_smtp_settings.api import discover

from falcana_core.api import text_in
from falcana_core.api.cli import fail, print_json
from falcana_core.api.cli import host as cli_host
from falcana_discovery.i18n import _


def register(cli: click.Group) -> None:
    from falcana_smtp_settings.api import mail_commands

    mail_commands().add_command(detect)


@click.command("detect")
@click.argument("address", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON (version 1).")
@click.option("--from-users", is_flag=True,
              help="Every mailbox that has no server yet, by its address.")
@click.option("--apply", is_flag=True,
              help="With --from-users: save the proposal (server, port, type, username).")
def detect(address: str | None, as_json: bool, from_users: bool, apply: bool) -> None:
    """Find the server settings of an address: source, candidates, time per source."""
    from falcana_core.api import current_language

    if from_users:
        _bulk(apply, as_json)
        return
    if not address:
        fail(str(_("Give an address, or --from-users.")))
    h = cli_host()
    found = discover(h, address)
    if found is None:
        fail(str(_("No enabled plugin finds settings.")), 1)
    if as_json:
        print_json(found.as_dict(current_language()))
        sys.exit(0 if found.found else 1)
    if not found.found:
        click.echo(str(_("No settings found for {address}.", address=address)))
    for i, item in enumerate(found.found):
        mark = "*" if i == 0 else " "
        values = item.values
        click.echo(f"{mark} {values.get('host')}:{values.get('port')} "
                   f"{values.get('security')}  {_('username')}: {values.get('username')}  "
                   f"({text_in(item.source_label, current_language())})")
        if item.warning is not None:
            click.echo(f"    {_('Warning')}: {text_in(item.warning, current_language())}")
    outcomes = {"found": _("found"), "nothing": _("nothing found"), "failed": _("failed")}
    for tried in found.as_dict(current_language())["tried"]:
        detail = f" ({tried['detail']})" if tried["detail"] else ""
        outcome = outcomes.get(tried["outcome"], tried["outcome"])
        click.echo(f"  {tried['source_label']}: {outcome}{detail}, {tried['ms']:.0f} ms",
                   err=True)
    sys.exit(0 if found.found else 1)


def _bulk(apply: bool, as_json: bool) -> None:
    from falcana_smtp_settings.api import SECTION_ID, load_settings
    from rich.console import Console
    from rich.progress import Progress
    from rich.table import Table
    from sqlalchemy import select

    from falcana_core.api import Mailbox

    h = cli_host()
    with h.sessions() as s:
        every = list(s.scalars(select(Mailbox).order_by(Mailbox.id)))
    boxes = [b for b in every if not load_settings(h, b, with_password=False).host]
    rows: list[dict[str, Any]] = []
    with Progress(transient=True, disable=as_json or not sys.stderr.isatty()) as progress:
        task = progress.add_task(str(_("Finding settings")), total=len(boxes))
        for box in boxes:
            found = discover(h, box.address)
            proposal = found.proposal if found else None
            row: dict[str, Any] = {"mailbox": box.id, "address": box.address,
                                   "source": proposal.source if proposal else None,
                                   "values": dict(proposal.values) if proposal else None,
                                   "saved": False}
            if apply and proposal is not None:
                values = h.section_values(box, SECTION_ID)
                values.update(proposal.values)
                values["password"] = None
                row["saved"] = h.save_section(box, SECTION_ID, values, actor="cli").saved
            rows.append(row)
            progress.advance(task)
    if as_json:
        print_json({"version": 1, "mailboxes": rows})
        return
    table = Table(str(_("Address")), str(_("Found via")), str(_("Server")),
                  str(_("Saved")))
    for row in rows:
        v = row["values"] or {}
        table.add_row(row["address"], row["source"] or "-",
                      f"{v.get('host')}:{v.get('port')} {v.get('security')}" if v else "-",
                      "yes" if row["saved"] else "-")
    Console().print(table)
    found_count = sum(1 for r in rows if r["values"])
    click.echo(str(_("{found} of {total} mailboxes without a server: settings found.",
                     found=found_count, total=len(rows))))
