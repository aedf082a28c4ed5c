"""Login with the core's users (or the host's, through the ``current_user`` hook), sessions
in signed cookies, and failed logins slowed down."""

from __future__ import annotations

import functools
import threading
import time
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
from werkzeug.wrappers import Response

from falcana_core.host import Host
from falcana_core.models import User
from falcana_core.web.i18n import _

bp = Blueprint("auth", __name__)
F = TypeVar("F", bound=Callable[..., Any])

MAX_FAILURES = 5
WINDOW_SECONDS = 15 * 60


class LoginThrottle:
    """Failed logins per login name and per client address: each failure makes the next
    answer slower, and after MAX_FAILURES the login waits out the window."""

    def __init__(self) -> None:
        self._failures: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> list[float]:
        stamps = [t for t in self._failures.get(key, []) if now - t < WINDOW_SECONDS]
        self._failures[key] = stamps
        return stamps

    def blocked_for(self, keys: list[str]) -> float:
        now = time.monotonic()
        with self._lock:
            waits = [WINDOW_SECONDS - (now - s[0]) for k in keys
                     if len(s := self._recent(k, now)) >= MAX_FAILURES]
        return max(waits, default=0.0)

    def failed(self, keys: list[str]) -> float:
        """Record a failure; returns how long to delay this answer."""
        now = time.monotonic()
        with self._lock:
            counts = []
            for key in keys:
                stamps = self._recent(key, now)
                stamps.append(now)
                counts.append(len(stamps))
        delay: float = min(0.25 * 2 ** (max(counts) - 1), 3.0)
        return delay

    def succeeded(self, keys: list[str]) -> None:
        with self._lock:
            for key in keys:
                self._failures.pop(key, None)


throttle = LoginThrottle()


def host() -> Host:
    found: Host = current_app.extensions["falcana_host"]
    return found


def current_user() -> User | None:
    """The host application's user (authentication hook), else the logged-in user."""
    if "falcana_user" in g:
        user: User | None = g.falcana_user
        return user
    user = host().hook.current_user(host(), request)
    if user is None and (uid := session.get("uid")) is not None:
        user = host().users.get(int(uid))
        if user is not None and (not user.active or session.get("pw") != _pw_mark(user)):
            user = None  # deactivated, or the password changed since login
    g.falcana_user = user
    return user


def _pw_mark(user: User) -> str:
    return (user.password_hash or "")[-12:]


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


def _safe_next(target: str | None) -> str:
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return url_for("views.home")


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    error = None
    status = 200
    login_name = ""
    if request.method == "POST":
        login_name = request.form.get("login", "").strip()
        password = request.form.get("password", "")
        keys = [f"login:{login_name.lower()}", f"addr:{request.remote_addr}"]
        wait = throttle.blocked_for(keys)
        if wait > 0:
            error = _("Too many failed logins. Please wait {minutes} minutes.",
                      minutes=max(1, round(wait / 60)))
            status = 429
        else:
            user = host().users.authenticate(login_name, password)
            if user is None:
                time.sleep(throttle.failed(keys))
                error = _("Login or password is wrong.")
                status = 401
            else:
                throttle.succeeded(keys)
                session.clear()
                session["uid"] = user.id
                session["pw"] = _pw_mark(user)
                if user.language:
                    session["lang"] = user.language
                return redirect(_safe_next(request.args.get("next")))
    demo = current_app.config.get("FALCANA_DEMO_LOGIN")
    return render_template("login.html", error=error, login=login_name, demo=demo), status


@bp.route("/logout", methods=["POST"])
def logout() -> Response:
    session.clear()
    return redirect(url_for("auth.login"))
