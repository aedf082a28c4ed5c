"""The plugin's own web route (under ``/plugins/smtp_settings``): pin the certificate the
mailbox's last failed test saw. The request carries no fingerprint: the server remembered
it (``settings.remember_offer``), so no one can pin a certificate of their choosing."""

from __future__ import annotations

from typing import Any

from falcana_core.api.web import Route, check_access, login_required, mailbox_or_404
from falcana_core.api.web import host as web_host
from falcana_smtp_settings.i18n import _
from falcana_smtp_settings.settings import PinRefused, pin_offered


@login_required
def pin(mailbox_id: int) -> Any:
    box = mailbox_or_404(mailbox_id)
    user = check_access(box)
    try:
        server = pin_offered(web_host(), box, actor=user.login)
    except PinRefused as refused:
        return str(refused), 403 if not user.is_admin else 409
    return str(_("Certificate pinned for {server}, for this mailbox only. Send the test "
                 "e-mail again.", server=server))


ROUTES = [Route("/mailboxes/<int:mailbox_id>/pin", pin, methods=("POST",))]
