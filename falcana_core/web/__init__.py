"""The admin web UI: a Flask app factory that a host application can mount.

    from falcana_core.web import create_app
    app = create_app(host)          # or create_app() to start a host from the environment

Served by ``falcana serve`` through waitress (a production WSGI server).
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Flask

    from falcana_core.host import Host

SESSION_KEY = ("core", "web_session_key", "flask")


def _session_key(host: Host) -> str:
    """The cookie-signing key, kept in the secret store so every worker shares it."""
    stored = host.secrets.get(*SESSION_KEY)
    if stored is not None:
        return stored.reveal()
    key = secrets.token_urlsafe(48)
    host.secrets.put(*SESSION_KEY, key)
    return key


def create_app(host: Host | None = None, **overrides: Any) -> Flask:
    from flask import Flask
    from flask_wtf.csrf import CSRFProtect

    from falcana_core.host import Host
    from falcana_core.web import auth, health, views
    from falcana_core.web.limits import ActionGate

    host = host or Host.start()
    app = Flask(__name__)
    secure = host.config.base_url.startswith("https://")
    app.config.update(
        SECRET_KEY=_session_key(host),
        SESSION_COOKIE_NAME="falcana_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=secure,
        WTF_CSRF_TIME_LIMIT=None,  # bound to the session instead
        WTF_CSRF_SSL_STRICT=secure,
        MAX_CONTENT_LENGTH=1024 * 1024,
    )
    if host.config.trusted_proxies:  # the client's address, not the proxy's, for throttling
        from werkzeug.middleware.proxy_fix import ProxyFix

        n = host.config.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n)  # type: ignore[method-assign]
    app.config.update(FALCANA_ACTION_SLOTS=4, FALCANA_ACTIONS_PER_MINUTE=10)
    app.config.update(overrides)
    app.extensions["falcana_host"] = host
    app.extensions["falcana_action_gate"] = ActionGate(
        app.config["FALCANA_ACTION_SLOTS"], app.config["FALCANA_ACTIONS_PER_MINUTE"])
    _plugin_templates(app, host)
    CSRFProtect(app)
    app.register_blueprint(auth.bp)
    app.register_blueprint(views.bp)
    app.register_blueprint(health.bp)
    views.install(app)
    _mount_plugin_routes(app, host)
    return app


def _plugin_templates(app: Flask, host: Host) -> None:
    """Each enabled plugin's ``templates/`` folder, as ``"<plugin>/<file>"`` (an action's
    result, say), beside the core's own templates."""
    from jinja2 import ChoiceLoader, FileSystemLoader, PrefixLoader

    prefixed = PrefixLoader({name: FileSystemLoader(str(path))
                             for name, path in host.plugins.resources("templates")})
    app.jinja_loader = ChoiceLoader([app.jinja_loader, prefixed])  # type: ignore[list-item]


def _mount_plugin_routes(app: Flask, host: Host) -> None:
    """Each plugin's routes under ``/plugins/<name>``; a plugin whose routes cannot be
    mounted is logged and left out, the app still starts."""
    import logging

    from falcana_core.routes import mount

    grouped: dict[str, list[Any]] = {}
    for plugin, route in host.hook.register_routes(host):
        grouped.setdefault(plugin, []).append(route)
    for plugin, routes in grouped.items():
        try:
            mount(app, plugin, routes)
        except Exception:
            logging.getLogger(__name__).exception("plugin %s: its routes were not mounted",
                                                  plugin)
