"""For plugins with web routes and pages (an OAuth callback, the demo's sink): who asks,
may they, and the core's rendering of a section."""

from __future__ import annotations

from typing import TYPE_CHECKING

from falcana_core.lazy import exports

if TYPE_CHECKING:
    from falcana_core.rendering import render_section
    from falcana_core.routes import Route
    from falcana_core.web import create_app
    from falcana_core.web.auth import current_user, host, login_required
    from falcana_core.web.server import serve
    from falcana_core.web.views import check_access, mailbox_or_404
else:  # names load on first use; type checkers read the imports above
    __getattr__, __dir__, __all__ = exports(__name__, __file__)
