"""The plugin's own web route (under ``/plugins/smtp_settings``): pin the certificate the
test mail offered."""

from __future__ import annotations

from typing import Any

from falcana_core.api import Route, check_access, login_required, mailbox_or_404, web_host
from falcana_smtp_settings.i18n import _
from falcana_smtp_settings.settings import load_settings, set_pin
from falcana_smtp_settings.tls import normalise_fingerprint


@login_required
def pin(mailbox_id: int) -> Any:
    from flask import abort, request

    box = mailbox_or_404(mailbox_id)
    user = check_access(box)
    fingerprint = normalise_fingerprint(request.form.get("sha256", ""))
    if fingerprint is None:
        abort(400)
    settings = load_settings(web_host(), box, with_password=False)
    set_pin(web_host(), settings.host, settings.port, fingerprint, actor=user.login)
    return str(_("Certificate pinned for {host}:{port}. Send the test e-mail again.",
                 host=settings.host, port=settings.port))


ROUTES = [Route("/mailboxes/<int:mailbox_id>/pin", pin, methods=("POST",))]
