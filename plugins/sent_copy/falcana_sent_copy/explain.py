"""Why the copy in Sent failed, in terms an admin acts on. Sending is never affected."""

from __future__ import annotations

from falcana_core.api import DeliveryFailure, Explanation, FailureKind, Retry, Scope
from falcana_sent_copy.i18n import _

UNREACHABLE = {FailureKind.DNS, FailureKind.REFUSED, FailureKind.UNREACHABLE,
               FailureKind.TIMEOUT, FailureKind.CLOSED}
TLS = {FailureKind.TLS_VERIFY, FailureKind.TLS_PROTOCOL}


def explain(f: DeliveryFailure) -> Explanation | None:
    if not f.step.startswith("imap."):
        return None
    if f.kind is FailureKind.NO_CREDENTIALS:
        return Explanation("sent_copy.no_password",
                           _("The copy in Sent has no password for the IMAP server {host}.",
                             host=f.host),
                           _("Enter the IMAP password. Or, when the IMAP login is the same "
                             "account as the e-mail login, an admin ticks “Use the e-mail "
                             "password for IMAP”. Sending is not affected."),
                           field="password", retry=Retry.AFTER_FIX, scope=Scope.MAILBOX,
                           specificity=20)
    if f.data.get("login_refused"):
        return Explanation("sent_copy.login_failed",
                           _("The IMAP server refused the login for the copy in Sent."),
                           _("Check the IMAP username and password (or give the copy an IMAP "
                             "password of its own). Sending is not affected."),
                           field="password", retry=Retry.AFTER_FIX, scope=Scope.MAILBOX,
                           specificity=20)
    if f.kind is FailureKind.NOT_OFFERED and f.data.get("what") == "sent_folder":
        return Explanation("sent_copy.no_folder",
                           _("The mailbox has no Sent folder that falcana could find."),
                           _("Enter the folder's name under Folder, or create a Sent folder "
                             "in the mail program. Sending is not affected."),
                           field="folder", retry=Retry.AFTER_FIX, scope=Scope.MAILBOX,
                           specificity=20)
    if f.data.get("not_imap"):
        return Explanation("sent_copy.not_imap",
                           _("No IMAP server answered on {host}, port {port}: whatever "
                             "answered is another kind of service.", host=f.host, port=f.port),
                           _("Check IMAP server, port and connection type (993 with SSL, "
                             "143 with TLS)."), field="port", retry=Retry.AFTER_FIX,
                           scope=Scope.MAILBOX, specificity=20)
    if f.data.get("too_long"):
        return Explanation("sent_copy.answer_too_large",
                           _("The IMAP server {host} sent more than falcana reads from it; "
                             "the connection was closed.", host=f.host),
                           _("Check that IMAP server and port are right. If they are, the "
                             "server's answer is broken: ask its operator."), field="host",
                           retry=Retry.AFTER_FIX, scope=Scope.MAILBOX, specificity=20)
    if f.data.get("deadline") or f.data.get("stopped"):
        return Explanation("sent_copy.out_of_time",
                           _("The IMAP server {host} did not finish in time; the connection "
                             "was closed.", host=f.host),
                           _("falcana tries again later. Sending is not affected."),
                           field="host", retry=Retry.LATER, scope=Scope.MAILBOX,
                           specificity=20)
    if f.kind is FailureKind.POLICY:
        return Explanation("sent_copy.destination_not_allowed",
                           _("The IMAP server {host} is in an internal network, which falcana "
                             "does not connect to.", host=f.host),
                           _("Enter the provider's public IMAP server."), field="host",
                           retry=Retry.AFTER_FIX, scope=Scope.MAILBOX, specificity=20)
    if f.kind in TLS:
        return Explanation("sent_copy.tls_failed",
                           _("The TLS connection to the IMAP server {host} failed ({detail}).",
                             host=f.host, detail=f.detail),
                           _("Check IMAP server, port and connection type."), field="security",
                           retry=Retry.AFTER_FIX, scope=Scope.MAILBOX, specificity=20)
    if f.kind in UNREACHABLE:
        return Explanation("sent_copy.unreachable",
                           _("The IMAP server {host} could not be reached on port {port}.",
                             host=f.host, port=f.port),
                           _("Check IMAP server and port; falcana tries again later."),
                           field="host", retry=Retry.LATER, scope=Scope.MAILBOX, specificity=20)
    return Explanation("sent_copy.failed",
                       _("Filing the copy in Sent failed at step {step} ({detail}).",
                         step=f.step, detail=f.detail),
                       _("falcana tries again later. Sending is not affected."),
                       retry=Retry.LATER, scope=Scope.MESSAGE, specificity=10)
