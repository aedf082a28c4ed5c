"""``falcana mailboxes health``: every tracked mailbox's health, for admins and monitoring
(exit 0 all ok, 1 a warning or a mailbox not verified yet, 2 a broken one, of the mailboxes
listed)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from falcana_core.i18n import Domain, current_language

_ = Domain("core", Path(__file__).parent / "locale")
STATES = ("ok", "warning", "broken", "unknown")


@click.command("health")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--verify", is_flag=True,
              help="Verify each mailbox now (a sign-in that sends nothing) first.")
@click.option("--state", type=click.Choice(STATES), help="Only mailboxes in this state.")
@click.argument("mailbox_ref", required=False)
def health_command(as_json: bool, verify: bool, state: str | None,
                   mailbox_ref: str | None) -> None:
    """Whether each mailbox can still send, and what to do where it cannot."""
    from falcana_core.cli_support import host, mailbox, print_json
    from falcana_core.health import EXIT_CODES, HealthState, worst

    h = host()
    if mailbox_ref:
        boxes = [mailbox(mailbox_ref)]
        if verify:
            h.health.verify(boxes[0])
        reports = [h.health.report(boxes[0])]
    else:
        if verify:
            for report in h.health.reports():
                box = h.mailboxes.get(report.mailbox_id)
                if box is not None:
                    h.health.verify(box)
        reports = h.health.reports()
    shown = [r for r in reports if state is None or r.state.value == state]
    lang = current_language()
    if as_json:
        print_json([r.as_dict(lang) for r in shown])
    else:
        labels = {HealthState.OK: _("ok"), HealthState.WARNING: _("warning"),
                  HealthState.BROKEN: _("broken"), HealthState.UNKNOWN: _("not verified yet")}
        for r in shown:
            click.echo(f"{r.mailbox_id:>5}  {labels[r.state]!s:<16} {r.address}")
            explanation = (r.reason or {}).get("explanation") or {}
            if r.state is HealthState.BROKEN and explanation:
                click.echo(f"       {explanation.get('cause')}\n       {explanation.get('fix')}")
            for notice in r.notices:
                left = notice.days_left(r.today)
                when = "" if left is None else " " + str(_("({days} days left)", days=left))
                click.echo(f"       {notice.cause!s}{when}\n       {notice.fix!s}")
        if not shown:
            click.echo(str(_("No mailbox to show: a mailbox is tracked once its settings "
                             "are saved.")))
    sys.exit(EXIT_CODES[worst([r.state for r in shown])])

