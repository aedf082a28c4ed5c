"""Login with the core's users (or the host's, through the ``current_user`` hook), sessions
kept server-side (the signed cookie holds only a random id), failed logins slowed down."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import math
import secrets
import threading
import time
import urllib.parse
from collections.abc import Callable
from typing import Any, TypeVar

from flask import (
    Blueprint,
    abort,
    current_app,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from sqlalchemy import delete, update
from werkzeug.wrappers import Response

from falcana_core.host import Host
from falcana_core.i18n import current_language, language
from falcana_core.models import User, WebSession, utcnow
from falcana_core.web.i18n import _
from falcana_core.web.login_notice import tell_at_login

bp = Blueprint("auth", __name__)
SESSION_IDLE = dt.timedelta(days=7)  # a session unused this long has ended
F = TypeVar("F", bound=Callable[..., Any])

FREE_FAILURES = 3  # then each further failure doubles the wait of this login+address
MAX_WAIT = 15 * 60
FORGET_AFTER = 24 * 3600


class LoginThrottle:
    """Failed logins per (login, client address): each failure answers more slowly, and
    after FREE_FAILURES the pair waits 30 s, 60 s, 120 s, ... up to 15 minutes. Another
    address is never locked out (the right user from the office still gets in while
    someone guesses from elsewhere); behind a reverse proxy, set FALCANA_TRUSTED_PROXIES
    so the address is the client's, not the proxy's."""

    def __init__(self) -> None:
        self._failures: dict[tuple[str, str], tuple[int, float]] = {}
        self._lock = threading.Lock()

    def blocked_for(self, key: tuple[str, str]) -> float:
        now = time.monotonic()
        with self._lock:
            count, last = self._failures.get(key, (0, now))
        if count <= FREE_FAILURES:
            return 0.0
        wait: float = min(30.0 * 2.0 ** (count - FREE_FAILURES - 1), MAX_WAIT)
        return max(0.0, wait - (now - last))

    def failed(self, key: tuple[str, str]) -> float:
        """Record a failure; returns how long to delay this answer."""
        now = time.monotonic()
        with self._lock:
            if len(self._failures) > 100_000:  # bounded memory under a spray
                self._failures = {k: v for k, v in self._failures.items()
                                  if now - v[1] < FORGET_AFTER}
            count, last = self._failures.get(key, (0, now))
            if now - last > FORGET_AFTER:
                count = 0
            self._failures[key] = (count + 1, now)
        delay: float = min(0.25 * 2.0 ** count, 3.0)
        return delay

    def succeeded(self, key: tuple[str, str]) -> None:
        with self._lock:
            self._failures.pop(key, None)


throttle = LoginThrottle()


def host() -> Host:
    found: Host = current_app.extensions["falcana_host"]
    return found


def current_user() -> User | None:
    """The host application's user (authentication hook), else the signed-in user."""
    if "falcana_user" in g:
        user: User | None = g.falcana_user
        return user
    user = host().hook.current_user(host(), request)
    if user is None:
        user = _session_user()
    g.falcana_user = user
    return user


def _sid_hash(sid: str) -> str:
    return hashlib.sha256(sid.encode()).hexdigest()


def _session_user() -> User | None:
    """The user of this browser's session row; none once it was ended (logout, password
    change) or the user was deactivated."""
    sid = session.get("sid")
    if not isinstance(sid, str):
        return None
    with host().sessions() as s:
        row = s.get(WebSession, _sid_hash(sid))
        if row is None:
            return None
        user = s.get(User, row.user_id)
        if user is None or not user.active:
            return None
        last = row.last_seen if row.last_seen.tzinfo else row.last_seen.replace(tzinfo=dt.UTC)
        if utcnow() - last > SESSION_IDLE:
            return None
        s.expunge(user)
    if utcnow() - last > dt.timedelta(minutes=5):  # not a write on every request
        with host().transaction() as s:
            s.execute(update(WebSession).where(WebSession.id_hash == _sid_hash(sid))
                      .values(last_seen=utcnow()))
    return user


def start_session(user: User) -> None:
    sid = secrets.token_urlsafe(32)
    with host().transaction() as s:
        s.add(WebSession(id_hash=_sid_hash(sid), user_id=user.id))
    session.clear()  # a fresh session: nothing from before the login carries over
    session["sid"] = sid


def end_session() -> None:
    sid = session.get("sid")
    if isinstance(sid, str):
        with host().transaction() as s:
            s.execute(delete(WebSession).where(WebSession.id_hash == _sid_hash(sid)))
    session.clear()


def login_required(fn: F) -> F:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if current_user() is None:
            return redirect(url_for("auth.login", next=request.full_path))
        return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def admin_required(fn: F) -> F:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        user = current_user()
        if user is None:
            return redirect(url_for("auth.login", next=request.full_path))
        if not user.is_admin:
            abort(403)
        return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def safe_next(target: str | None) -> str:
    """``target`` if it is a path on this site, else the start page. Browsers forgive a
    lot ("/\\evil", "/\t/evil", "https:evil"), so only a plain absolute path passes."""
    return local_path(target) or url_for("views.home")


def local_path(target: str | None) -> str | None:
    if not target or len(target) > 2000:
        return None
    if any(not ch.isprintable() or ch.isspace() for ch in target) or "\\" in target:
        return None  # tabs and line breaks are dropped by browsers: "/\t/x" is "//x"
    if not target.startswith("/") or target.startswith("//"):
        return None
    parts = urllib.parse.urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    error = None
    status = 200
    login_name = ""
    if request.method == "POST":
        login_name = request.form.get("login", "").strip()
        password = request.form.get("password", "")
        key = (login_name.lower(), request.remote_addr or "")
        wait = throttle.blocked_for(key)
        if wait > 0:
            error = _("Too many failed logins. Please wait {minutes} minutes.",
                      minutes=max(1, math.ceil(wait / 60)))
            status = 429
        else:
            user = host().users.authenticate(login_name, password)
            if user is None:
                time.sleep(throttle.failed(key))
                error = _("Login or password is wrong.")
                status = 401
            else:
                throttle.succeeded(key)
                start_session(user)
                if user.language:
                    session["lang"] = user.language
                with language(user.language or current_language()):
                    tell_at_login(host(), user)
                return redirect(safe_next(request.args.get("next")))
    demo = current_app.config.get("FALCANA_DEMO_LOGIN")
    return render_template("login.html", error=error, login=login_name, demo=demo), status


@bp.route("/logout", methods=["POST"])
def logout() -> Response:
    end_session()
    return redirect(url_for("auth.login"))
