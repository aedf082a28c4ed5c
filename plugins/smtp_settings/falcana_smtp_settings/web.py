"""The plugin's own web route: pin the certificate the test mail offered."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, abort, request

from falcana_core.web.auth import host, login_required
from falcana_core.web.views import check_access, mailbox_or_404
from falcana_smtp_settings.i18n import _
from falcana_smtp_settings.settings import load_settings, set_pin
from falcana_smtp_settings.tls import normalise_fingerprint


def register(app: Flask) -> None:
    bp = Blueprint("smtp_settings", __name__, url_prefix="/plugins/smtp_settings")

    @bp.route("/mailboxes/<int:mailbox_id>/pin", methods=["POST"])
    @login_required
    def pin(mailbox_id: int) -> Any:
        box = mailbox_or_404(mailbox_id)
        user = check_access(box)
        fingerprint = normalise_fingerprint(request.form.get("sha256", ""))
        if fingerprint is None:
            abort(400)
        settings = load_settings(host(), box, with_password=False)
        set_pin(host(), settings.host, settings.port, fingerprint, actor=user.login)
        return str(_("Certificate pinned for {host}:{port}. Send the test e-mail again.",
                     host=settings.host, port=settings.port))

    app.register_blueprint(bp)
