"""Pages and fragments: the Admin-Bereich with the "User-Verwaltung" slide panel, the
settings popup, "Meine Einstellungen", shared mailboxes and deployment-wide settings."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_wtf.csrf import CSRFError
from markupsafe import Markup
from sqlalchemy.exc import OperationalError
from werkzeug.wrappers import Response

from falcana_core.general import users_may_edit_own
from falcana_core.health import HealthState
from falcana_core.i18n import (
    SUPPORTED_LANGUAGES,
    current_language,
    normalise_language,
    set_language,
    text_in,
    translator,
)
from falcana_core.models import Mailbox, User
from falcana_core.rendering import render_section
from falcana_core.sections import FieldType, Section, Validation
from falcana_core.users import InputError
from falcana_core.web.auth import (
    admin_required,
    current_user,
    host,
    login_required,
    safe_next,
)
from falcana_core.web.i18n import _
from falcana_core.web.limits import ActionGate, Busy

bp = Blueprint("views", __name__)
PER_PAGE = 25


def install(app: Flask) -> None:
    """Language per request, template globals, and error pages that say what happened."""

    @app.before_request
    def _language() -> None:
        user = current_user()
        chosen = session.get("lang") or (user.language if user else None) or \
            request.accept_languages.best_match(SUPPORTED_LANGUAGES) or host().config.lang
        set_language(chosen)

    @app.context_processor
    def _globals() -> dict[str, Any]:
        return {"_": _, "user": current_user(), "lang": current_language(),
                "languages": SUPPORTED_LANGUAGES, "step_label": host().step_label}

    @app.errorhandler(403)
    def _forbidden(_e: Exception) -> tuple[str, int]:
        return render_template("error.html", code=403, message=_(
            "You may not open this page: it needs other rights.")), 403

    @app.errorhandler(404)
    def _not_found(_e: Exception) -> tuple[str, int]:
        return render_template("error.html", code=404, message=_("This page does not exist.")
                               ), 404

    @app.errorhandler(OperationalError)
    def _database(exc: OperationalError) -> tuple[str, int]:
        import logging

        from falcana_core.db import describe_error

        logging.getLogger(__name__).error("%s", describe_error(exc))
        return render_template("error.html", code=503, message=_(
            "The database is busy or unavailable. Please try again in a moment.")), 503

    @app.errorhandler(CSRFError)
    def _csrf(_e: CSRFError) -> tuple[str, int]:
        return render_template("error.html", code=400, message=_(
            "The form was refused because its security token is missing or expired. Reload "
            "the page and try again.")), 400


# -- access ------------------------------------------------------------------------------

def mailbox_or_404(mailbox_id: int) -> Mailbox:
    box = host().mailboxes.get(mailbox_id)
    if box is None:
        abort(404)
    return box


def check_access(box: Mailbox) -> User:
    """Admins reach every mailbox; a user only their own, when admins allow it (the rule
    lives in falcana_core.permissions, shared with the CLI and the Python API)."""
    user = current_user()
    assert user is not None
    if host().may_edit(user.login, box):
        return user
    abort(403)


# -- pages -------------------------------------------------------------------------------

@bp.route("/")
@login_required
def home() -> Response:
    user = current_user()
    assert user is not None
    return redirect(url_for("views.admin" if user.is_admin else "views.me"))


@bp.route("/admin")
@admin_required
def admin() -> str:
    return render_template("admin.html", shared=host().mailboxes.shared(),
                           first_visit=not session.get("seen_panel"),
                           broken=host().health.counts()[HealthState.BROKEN.value])


@bp.route("/admin/users")
@admin_required
def user_rows() -> str:
    """A page of the user list (the slide panel fetches it as you type)."""
    session["seen_panel"] = True
    query = request.args.get("q", "")[:100]
    page = max(1, request.args.get("page", 1, type=int) or 1)
    # "Next" and "Previous" carry the neighbouring user (keyset paging); a page number
    # alone (a bookmark) counts from the start
    users, total = host().users.list(
        query, offset=(page - 1) * PER_PAGE, limit=PER_PAGE,
        after=request.args.get("after", type=int), before=request.args.get("before", type=int))
    pages = max(1, math.ceil(total / PER_PAGE))
    return render_template("user_rows.html", users=users, total=total, page=page,
                           pages=pages, q=query)


@bp.route("/users/<int:user_id>/popup")
@admin_required
def user_popup(user_id: int) -> Any:
    user = host().users.get(user_id)
    if user is None:
        abort(404)
    return popup(host().mailboxes.personal(user).id)


@bp.route("/mailboxes/<int:mailbox_id>/popup")
@login_required
def popup(mailbox_id: int) -> Any:
    box = mailbox_or_404(mailbox_id)
    check_access(box)
    return render_popup(box)


def owner_name(box: Mailbox) -> str:
    if box.user_id is not None:
        owner = host().users.get(box.user_id)
        if owner is not None:
            return f"{owner.full_name} ({owner.login})"
    return box.display_name or box.address


def render_popup(box: Mailbox, *, forms: dict[str, tuple[dict[str, Any], Validation]]
                 | None = None, saved: str | None = None, status: int = 200,
                 standalone: bool | None = None) -> Any:
    """Every enabled plugin's section, in declared order, as forms."""
    actor = current_user().login  # type: ignore[union-attr]
    rendered = []
    for section in host().sections():
        values, validation = (forms or {}).get(section.id, (None, None))
        rendered.append((section, render_section(host(), box, section, values=values,
                                                 validation=validation, actor=actor,
                                                 show_actions=False),
                         [a for a in host().actions(section.id)
                          if a.is_available(host().context(box, actor))]))
    html = render_template("popup.html", box=box, owner=owner_name(box), sections=rendered,
                           saved=saved, standalone=bool(request.args.get("standalone"))
                           if standalone is None else standalone,
                           ctx=host().context(box, actor))
    return html, status


@bp.route("/mailboxes/<int:mailbox_id>/sections/<section_id>", methods=["POST"])
@login_required
def save_section(mailbox_id: int, section_id: str) -> Any:
    box = mailbox_or_404(mailbox_id)
    user = check_access(box)
    section = _section_or_404(section_id)
    values = form_values(section, box)
    result = host().save_section(box, section_id, values, actor=user.login)
    box = mailbox_or_404(mailbox_id)
    if result.saved:
        return render_popup(box, saved=section_id, forms={section_id: (
            section.load(host().context(box, user.login)), result.validation)})
    shown = {k: v for k, v in values.items() if k != "password"}
    return render_popup(box, forms={section_id: (shown, result.validation)}, status=422)


def _section_or_404(section_id: str) -> Section:
    for section in host().sections():
        if section.id == section_id:
            return section
    abort(404)


@bp.route("/mailboxes/<int:mailbox_id>/sections/<section_id>/preview", methods=["POST"])
@login_required
def preview_section(mailbox_id: int, section_id: str) -> Any:
    """The section as it would look with the values typed so far (nothing saved): the
    page takes the help and what the section recognised (a provider) from it, so help
    appears where the choice is made, before saving."""
    box = mailbox_or_404(mailbox_id)
    user = check_access(box)
    section = _section_or_404(section_id)
    values = {k: v for k, v in form_values(section, box).items() if k != "password"}
    return str(render_section(host(), box, section, values=values, actor=user.login,
                              show_actions=False))


def form_values(section: Section, box: Mailbox | None) -> dict[str, Any]:
    """Form fields as the section's values: unchecked boxes are False, passwords may be
    left empty (keep) or removed explicitly."""
    ctx = host().context(box, "web")
    values: dict[str, Any] = {}
    for field in section.fields(ctx):
        if field.type is FieldType.BOOLEAN:
            values[field.id] = request.form.get(field.id) == "1"
        elif field.write_only:
            values[field.id] = request.form.get(field.id) or None
            values[f"clear_{field.id}"] = request.form.get(f"clear_{field.id}") == "1"
        else:
            values[field.id] = request.form.get(field.id, "")
    return values


@bp.route("/mailboxes/<int:mailbox_id>/actions/<action_id>", methods=["POST"])
@login_required
def run_action(mailbox_id: int, action_id: str) -> Any:
    box = mailbox_or_404(mailbox_id)
    user = check_access(box)
    action = host().action(action_id)
    if action is None:
        abort(404)
    # the form as it stands, not yet saved: the action reads what it needs (a test tests
    # the password as typed); nothing of it is stored or shown back
    params = {k: v[:1024] for k, v in request.form.items() if k != "csrf_token"}
    gate: ActionGate = current_app.extensions["falcana_action_gate"]
    try:
        with gate.enter(user.login, limited=action.rate_limited):
            result = host().run_action(box, action_id, params, actor=user.login)
    except Busy as busy:
        message = {"rate": _("Too many tests in a short time: please wait a minute."),
                   "running": _("Your previous test is still running."),
                   "busy": _("Many tests are running right now: please try again in a "
                             "moment.")}[busy.reason]
        status = 429 if busy.reason != "busy" else 503
        return (render_template("action_result.html", error=message, result=None), status,
                {"Retry-After": str(busy.retry_after)})
    except LookupError:
        abort(404)
    except ValueError as exc:
        return render_template("action_result.html", error=str(exc), result=None), 422
    doc = result.as_dict(current_language()) if isinstance(result, _Documented) else result
    return render_template("action_result.html", result=doc, error=None, box=box,
                           template=action.template, _=_plugin_text(action.template))


@runtime_checkable
class _Documented(Protocol):
    """A result that turns itself into the versioned document the page renders."""

    def as_dict(self, lang: str) -> Any: ...


def _plugin_text(template: str | None) -> Callable[..., Any]:
    """``_`` for a plugin's template (``"<plugin>/<file>"``): its catalogue, then ours."""
    return translator((template or "").partition("/")[0], _)


@bp.route("/me")
@login_required
def me() -> Any:
    user = current_user()
    assert user is not None
    if not (user.is_admin or users_may_edit_own(host())):
        return render_template("error.html", code=403, message=_(
            "An admin has switched off editing your own e-mail settings.")), 403
    box = host().mailboxes.personal(user)
    body, _status = render_popup(box, standalone=True)
    return render_template("me.html", body=Markup(body))  # noqa: S704 - our own template


@bp.route("/admin/shared", methods=["POST"])
@admin_required
def create_shared() -> Any:
    user = current_user()
    try:
        host().mailboxes.create_shared(request.form.get("address", ""),
                                       request.form.get("display_name", ""),
                                       actor=user.login)  # type: ignore[union-attr]
    except InputError as exc:
        return render_template("admin.html", shared=host().mailboxes.shared(),
                               shared_error=exc, first_visit=False,
                               typed=request.form), 422
    return redirect(url_for("views.admin") + "#shared")


@bp.route("/admin/settings", methods=["GET", "POST"])
@admin_required
def deployment_settings() -> Any:
    user = current_user()
    assert user is not None
    sections = host().hook.deployment_settings_sections(host())
    forms: dict[str, tuple[dict[str, Any], Validation]] = {}
    saved = None
    status = 200
    if request.method == "POST":
        section_id = request.form.get("_section", "")
        section = next((s for s in sections if s.id == section_id), None)
        if section is None:
            abort(404)
        values = form_values(section, None)
        result = host().save_section(None, section_id, values, actor=user.login)
        if result.saved:
            saved = section_id
        else:
            forms[section_id] = (values, result.validation)
            status = 422
    rendered = [(s, render_section(host(), None, s, values=forms.get(s.id, (None, None))[0],
                                   validation=forms.get(s.id, (None, None))[1],
                                   actor=user.login)) for s in sections]
    return render_template("settings.html", sections=rendered, saved=saved), status


@bp.route("/language", methods=["POST"])
def choose_language() -> Response:
    lang = normalise_language(request.form.get("lang"))
    session["lang"] = lang
    user = current_user()
    if user is not None:
        with host().transaction() as s:
            row = s.get(User, user.id)
            if row is not None:
                row.language = lang
    return redirect(safe_next(request.form.get("next")))


def text(value: Any) -> str:
    return text_in(value, current_language()) if value is not None else ""


@bp.app_template_filter("t")
def _t(value: Any) -> str:
    return text(value)


@bp.app_context_processor
def _request_user() -> dict[str, Any]:
    return {"g": g}
