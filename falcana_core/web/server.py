"""Serving the web app with waitress, a production WSGI server (never Flask's debug server)."""

from __future__ import annotations

from typing import Any


def serve(app: Any, host: str, port: int, threads: int = 8) -> None:
    from waitress import serve as waitress_serve

    waitress_serve(app, host=host, port=port, threads=threads, ident="falcana")
