"""``falcana bounces look [MAILBOX...]`` and ``falcana bounces list``: read the inboxes for
reports (a cron job or a timer can run it), and see what was found."""

from __future__ import annotations

import sys
from typing import Any

import click

from falcana_bounces.i18n import _
from falcana_core.api.cli import host as cli_host
from falcana_core.api.cli import mailbox, print_json


@click.group("bounces")
def bounces_group() -> None:
    """Unzustellbare E-Mails: delivery reports and auto-replies in the senders' inboxes."""


@bounces_group.command("look")
@click.argument("mailboxes", nargs=-1)
@click.option("--due", is_flag=True, help="Only the mailboxes whose next look is due.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (version 1).")
def look(mailboxes: tuple[str, ...], due: bool, as_json: bool) -> None:
    """Read what is new in the inboxes (read-only) and record every report found. Without
    MAILBOXES (logins or addresses): every mailbox with IMAP settings."""
    from falcana_bounces.service import bounces

    h = cli_host()
    service = bounces(h)
    boxes = [mailbox(ref) for ref in mailboxes] if mailboxes else service.readable(
        due=due)
    looks = [service.look(box) for box in boxes]
    if as_json:
        print_json({"version": 1, "looks": [look.as_dict() for look in looks]})
    else:
        for box, found in zip(boxes, looks, strict=True):
            if not found.ok:
                said = (found.failure or {}).get("explanation") or {}
                why = " ".join(filter(None, (said.get("cause"), said.get("fix"))))
                click.echo(f"{box.address}: {_('failed')} ({(found.failure or {}).get('step')})"
                           f" {why}")
                continue
            click.echo(str(_("{address}: {looked} new, {reports} reports",
                             address=box.address, looked=found.looked_at,
                             reports=len(found.outcomes))))
            for outcome in found.outcomes:
                click.echo(f"  {outcome.kind.value:<10} {outcome.recipient}  "
                           f"{outcome.status or '-'}  {outcome.diagnostic[:80]}")
    sys.exit(0 if all(found.ok for found in looks) else 1)


@bounces_group.command("list")
@click.argument("ref", metavar="MAILBOX", required=False)
@click.option("--days", default=7, show_default=True, type=click.IntRange(1, 3650))
@click.option("--json", "as_json", is_flag=True, help="Print JSON (version 1).")
def list_(ref: str | None, days: int, as_json: bool) -> None:
    """Reports found in the last DAYS, newest first."""
    from falcana_bounces.service import bounces

    h = cli_host()
    box = mailbox(ref) if ref else None
    found = bounces(h).reports(mailbox_id=box.id if box else None, days=days)
    rows: list[dict[str, Any]] = [{
        "mailbox_id": r.mailbox_id, "outbox_id": r.outbox_id, "recipient": r.recipient,
        "kind": r.kind, "status": r.status, "diagnostic": r.diagnostic,
        "matched_by": r.matched_by, "found_at": r.found_at.isoformat()} for r in found]
    if as_json:
        print_json({"version": 1, "reports": rows})
        return
    for row in rows:
        click.echo(f"{row['found_at'][:16]}  {row['kind']:<10} {row['recipient']}  "
                   f"{row['status'] or '-'}  #{row['outbox_id'] or '-'}")
