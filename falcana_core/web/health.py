"""The admins' health view ("Postfach-Zustand"): how many mailboxes can send, which cannot
or soon will not and why, filtered, as CSV (docs/health.md)."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import TYPE_CHECKING, Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from falcana_core.health import HealthReport, HealthState
from falcana_core.i18n import Text, current_language, text_in
from falcana_core.web.auth import admin_required, host
from falcana_core.web.i18n import _

if TYPE_CHECKING:
    from falcana_core.models import Mailbox

bp = Blueprint("health", __name__)
#: rows a page shows; the CSV holds every one
PAGE = 200
#: the default filter: what needs someone's attention
PROBLEMS = "problems"
FILTERS = {PROBLEMS: {HealthState.BROKEN, HealthState.WARNING},
           **{s.value: {s} for s in HealthState}, "all": None}
#: the worst first: what cannot send is at the top of the list
ORDER = (HealthState.BROKEN, HealthState.WARNING, HealthState.UNKNOWN, HealthState.OK)
STATE_LABELS: dict[str, Text] = {
    "ok": _("ok"), "warning": _("warning"), "broken": _("broken"),
    "unknown": _("not checked yet")}


def _filters() -> tuple[str, set[HealthState] | None, str]:
    chosen = request.args.get("state", PROBLEMS)
    if chosen not in FILTERS:
        chosen = PROBLEMS
    return chosen, FILTERS[chosen], request.args.get("q", "")[:200]


def _owner(box: Mailbox) -> str:
    if box.user is None:
        return text_in(_("Shared mailbox"), current_language())
    return box.user.full_name or box.user.login


def row(box: Mailbox, report: HealthReport) -> dict[str, Any]:
    """One line of the view and the CSV, in the admin's language: what is wrong, what
    fixes it, by when."""
    lang = current_language()
    today = report.today
    cause = fix = ""
    due = None
    if report.state is HealthState.BROKEN:
        why = (report.reason or {}).get("explanation") or {}
        cause, fix = why.get("cause", ""), why.get("fix", "")
    elif report.notices:
        first = report.notices[0]
        cause, fix = text_in(first.cause, lang), text_in(first.fix, lang)
        due = first.due
    return {"mailbox_id": box.id, "address": box.address, "owner": _owner(box),
            "state": report.state.value,
            "state_label": text_in(STATE_LABELS[report.state.value], lang),
            "cause": cause, "fix": fix, "due": due.isoformat() if due else "",
            "days_left": (due - today).days if due else "",
            "more": max(0, len(report.notices) - 1),
            "checked_at": _when(report.checked_at),
            "next_check_at": _when(report.next_check_at)}


def _when(value: dt.datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else ""


@bp.route("/admin/health")
@admin_required
def view() -> str:
    chosen, states, search = _filters()
    listing = host().health.listing(search=search)
    counts = {s.value: 0 for s in HealthState}
    for _box, report in listing:
        counts[report.state.value] += 1
    shown = [row(b, r) for b, r in sorted(
        listing, key=lambda pair: ORDER.index(pair[1].state))
        if states is None or r.state in states]
    return render_template("health.html", counts=counts, rows=shown[:PAGE],
                           ahead=_grouped(listing),
                           hidden=max(0, len(shown) - PAGE), chosen=chosen, search=search,
                           labels={k: text_in(v, current_language())
                                   for k, v in STATE_LABELS.items()})


def _grouped(listing: list[tuple[Mailbox, HealthReport]]) -> list[dict[str, Any]]:
    """Each notice once, with how many mailboxes it concerns and the command that fixes
    it for all of them, where its plugin names one (the most mailboxes first)."""
    lang = current_language()
    groups: dict[str, dict[str, Any]] = {}
    for _box, report in listing:
        for notice in report.notices:
            group = groups.setdefault(notice.id, {
                "id": notice.id, "cause": text_in(notice.cause, lang), "bulk": notice.bulk,
                "days_left": notice.days_left(report.today), "count": 0})
            group["count"] += 1
    return sorted(groups.values(), key=lambda g: -g["count"])


COLUMNS = ("address", "owner", "state", "cause", "fix", "due", "days_left", "checked_at",
           "next_check_at")


@bp.route("/admin/health.csv")
@admin_required
def export() -> Response:
    """The filtered list for a spreadsheet; a cell that a spreadsheet would run as a
    formula is quoted (an address or a server's reply is not ours to trust)."""
    _chosen, states, search = _filters()
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    for box, report in host().health.listing(states=states, search=search):
        line = row(box, report)
        writer.writerow([_cell(line[c]) for c in COLUMNS])
    stamp = dt.date.today().isoformat()
    return Response("\ufeff" + out.getvalue(), mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="falcana-health-{stamp}.csv"'})


def _cell(value: Any) -> str:
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


@bp.route("/admin/health/<int:mailbox_id>/check", methods=["POST"])
@admin_required
def check(mailbox_id: int) -> Response:
    """Verify soon: the worker takes it on its next round (the web sends nothing)."""
    if host().mailboxes.get(mailbox_id) is None:
        abort(404)
    host().health.track(mailbox_id, after=0)
    flash(text_in(_("The mailbox is checked within the next minute."), current_language()),
          "saved")
    kept: dict[str, Any] = request.args.to_dict()
    return redirect(url_for("health.view", **kept))
