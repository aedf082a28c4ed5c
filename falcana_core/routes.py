"""Web routes a plugin contributes: ``(rule, view)`` pairs that the host mounts.

The host mounts every route of plugin ``name`` under ``/plugins/<name>``, with the endpoint
``<name>.<view name>`` (so ``url_for("oauth.callback", ...)``), the way datasette's
``register_routes`` works: a plugin never sees the whole web app.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from typing import Any

PREFIX = "/plugins"


@dataclasses.dataclass(frozen=True)
class Route:
    """``Route("/mailboxes/<int:mailbox_id>/pin", pin, methods=("POST",))``"""

    rule: str  # relative to the plugin's prefix; starts with "/"
    view: Callable[..., Any]
    methods: Sequence[str] = ("GET",)
    name: str | None = None  # the endpoint's last part; default: the view's name

    @classmethod
    def of(cls, value: Route | tuple[Any, ...]) -> Route:
        """A ``Route``, or a ``(rule, view)`` / ``(rule, view, methods)`` tuple."""
        if isinstance(value, Route):
            return value
        rule, view, *rest = value
        return cls(rule, view, tuple(rest[0]) if rest else ("GET",))


def mount(app: Any, plugin: str, routes: Iterable[Route | tuple[Any, ...]]) -> list[str]:
    """Add a plugin's routes to a Flask app under its prefix; returns the URL rules."""
    from flask import Blueprint

    bp = Blueprint(plugin, f"falcana_plugin_{plugin}", url_prefix=f"{PREFIX}/{plugin}")
    rules = []
    for item in routes:
        route = Route.of(item)
        if not route.rule.startswith("/"):
            raise ValueError(f"plugin {plugin}: route {route.rule!r} must start with '/'")
        bp.add_url_rule(route.rule, route.name or route.view.__name__, route.view,
                        methods=list(route.methods))
        rules.append(f"{PREFIX}/{plugin}{route.rule}")
    app.register_blueprint(bp)
    return rules
