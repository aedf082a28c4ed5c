"""The generic explanations of failed SMTP steps. Provider plugins add more specific ones."""

from __future__ import annotations

from falcana_core.api import DeliveryFailure, Explanation, FailureKind, Retry, Scope
from falcana_smtp_settings.i18n import _

# X509_V_ERR_* codes from OpenSSL
_EXPIRED = {10}
_WRONG_HOST = {62, 64}  # host name or IP address mismatch
_UNTRUSTED = {18, 19, 20, 21, 2, 27}

# What the server probably said when TLS met plaintext.
_PLAINTEXT_REASONS = {"WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "UNKNOWN_PROTOCOL",
                      "HTTP_REQUEST", "PACKET_LENGTH_TOO_LONG"}


def explain(f: DeliveryFailure) -> Explanation | None:
    kind, step, reply = f.kind, f.step, f.reply
    if "." in step:  # another protocol's step ("imap.login"): its plugin explains it
        return None
    if kind is FailureKind.POLICY:
        if f.data.get("policy") == "port":
            return Explanation("smtp.port_not_allowed",
                               _("Users may not connect to port {port}.", port=f.port),
                               _("Use the provider's port (587, 465 or 25), or ask an admin: "
                                 "admins may use other ports."),
                               field="port", retry=Retry.AFTER_FIX, scope=Scope.MAILBOX)
        return Explanation("smtp.destination_not_allowed",
                           _("The server {host} is in an internal network, which falcana "
                             "does not connect to.", host=f.host),
                           _("Enter the provider's public server. For a server in your own "
                             "network (on-premises Exchange), the operator allows it with "
                             "FALCANA_ALLOW_NETWORKS."),
                           field="host", retry=Retry.AFTER_FIX, scope=Scope.MAILBOX)
    if kind is FailureKind.NOT_SMTP:
        return Explanation("smtp.not_smtp",
                           _("No SMTP server answered on {host}, port {port}: whatever "
                             "answered is another kind of service.", host=f.host,
                             port=f.port),
                           _("Check server and port (Outgoing mail server, E-mail port)."),
                           field="port", retry=Retry.AFTER_FIX, scope=Scope.MAILBOX)
    if step == "greeting" and kind in (FailureKind.TIMEOUT, FailureKind.CLOSED) and \
            not f.data.get("deadline"):
        return _no_greeting(f)
    who = f.data.get("known_server")
    if who is not None and kind is FailureKind.DNS:
        return Explanation("smtp.no_dns",
                           _("The falcana server could not look up {host}, the server of "
                             "{who}: the name is right, so the falcana server has no working "
                             "DNS or no internet access.", host=f.host, who=who),
                           _("Check on the falcana server: its DNS resolver "
                             "(FALCANA_DNS_SERVERS, else the system's), its firewall, and a "
                             "proxy it has to use."),
                           retry=Retry.LATER, scope=Scope.MAILBOX)
    if who is not None and step == "connect":
        return Explanation("smtp.port_blocked",
                           _("{host} ({who}) accepted no connection on port {port}: the "
                             "network of the falcana server probably blocks outgoing "
                             "connections to this port.", host=f.host, who=who, port=f.port),
                           _("Ask the network's admin to allow outgoing connections to {host} "
                             "on port {port} (firewall, proxy), or try the provider's other "
                             "port.", host=f.host, port=f.port),
                           field="port", retry=Retry.LATER, scope=Scope.MAILBOX)
    if kind is FailureKind.DNS:
        return Explanation("smtp.host_not_found",
                           _("The name of the outgoing mail server ({host}) was not found.",
                             host=f.host),
                           _("Check the spelling of the server name (Outgoing mail server)."),
                           field="host", retry=Retry.AFTER_FIX, scope=Scope.MAILBOX)
    if kind is FailureKind.REFUSED:
        return Explanation("smtp.connection_refused",
                           _("The server {host} refused the connection on port {port}.",
                             host=f.host, port=f.port),
                           _("Check the port: common are 587 (TLS), 465 (SSL) and 25."),
                           field="port", retry=Retry.AFTER_FIX, scope=Scope.MAILBOX)
    if kind is FailureKind.UNREACHABLE:
        return Explanation("smtp.unreachable",
                           _("The server {host} cannot be reached ({detail}).", host=f.host,
                             detail=f.detail),
                           _("Check the server name and that this network may reach it."),
                           field="host", retry=Retry.LATER, scope=Scope.MAILBOX)
    if kind is FailureKind.TIMEOUT:
        if f.data.get("deadline"):
            return Explanation("smtp.deadline",
                               _("The server took too long: the test was stopped at step "
                                 "{step}.", step=step),
                               _("Try again later; if it persists, check server and port."),
                               retry=Retry.LATER, scope=Scope.MAILBOX)
        if step == "connect":
            return Explanation("smtp.connect_timeout",
                               _("No connection to {host} on port {port}: it timed out.",
                                 host=f.host, port=f.port),
                               _("Check server and port; a firewall may drop the connection."),
                               field="port", retry=Retry.LATER, scope=Scope.MAILBOX)
        if step == "data":
            return Explanation("smtp.data_timeout",
                               _("The server stopped answering while the message was sent; "
                                 "it may or may not have been delivered."),
                               _("Check the recipient's mailbox before sending again."),
                               retry=Retry.LATER, scope=Scope.MESSAGE)
        return Explanation("smtp.timeout",
                           _("The server did not answer in time (step {step}).", step=step),
                           _("Try again later."), retry=Retry.LATER, scope=Scope.MAILBOX)
    if kind is FailureKind.TLS_PROTOCOL:
        reason = str(f.data.get("reason") or "")
        if step == "tls" and reason in _PLAINTEXT_REASONS:
            return Explanation("smtp.ssl_on_plain_port",
                               _("The server on port {port} does not speak SSL from the start; "
                                 "it probably expects TLS (STARTTLS).", port=f.port),
                               _("Set the connection type to TLS (usually port 587), or use "
                                 "the SSL port (usually 465)."),
                               field="security", retry=Retry.AFTER_FIX, scope=Scope.MAILBOX,
                               specificity=30)
        return Explanation("smtp.tls_failed",
                           _("The encrypted connection could not be set up ({detail}).",
                             detail=f.detail),
                           _("The server may only offer outdated TLS versions; falcana needs "
                             "TLS 1.2 or newer."),
                           field="security", retry=Retry.AFTER_FIX, scope=Scope.MAILBOX)
    if kind is FailureKind.TLS_VERIFY:
        code = f.data.get("verify_code")
        if code in _EXPIRED:
            return Explanation("smtp.certificate_expired",
                               _("The server's certificate has expired."),
                               _("Ask the provider to renew it. If you trust this server, "
                                 "you can pin its certificate."),
                               retry=Retry.AFTER_FIX, scope=Scope.MAILBOX, specificity=30)
        if code in _WRONG_HOST:
            return Explanation("smtp.certificate_wrong_host",
                               _("The server's certificate is not made out for {host}.",
                                 host=f.host),
                               _("Use the server name the provider gives (it must match the "
                                 "certificate), or pin this certificate if you trust it."),
                               field="host", retry=Retry.AFTER_FIX, scope=Scope.MAILBOX,
                               specificity=30)
        return Explanation("smtp.certificate_untrusted",
                           _("The server's certificate is not trusted (for example "
                             "self-signed or from an unknown authority)."),
                           _("Add the issuing CA to FALCANA_CA_BUNDLE, or pin this server's "
                             "certificate by its fingerprint if you trust it."),
                           retry=Retry.AFTER_FIX, scope=Scope.MAILBOX, specificity=20)
    if kind is FailureKind.PIN_MISMATCH:
        return Explanation("smtp.pin_mismatch",
                           _("The server presented a different certificate than the pinned "
                             "one. Nothing was sent."),
                           _("If the server's certificate was renewed, check the new "
                             "fingerprint and pin it again; otherwise do not trust this "
                             "connection."),
                           retry=Retry.AFTER_FIX, scope=Scope.MAILBOX, specificity=30)
    if kind is FailureKind.NOT_OFFERED:
        what = str(f.data.get("what", ""))
        if what == "STARTTLS":
            return Explanation("smtp.starttls_not_offered",
                               _("The connection type is TLS, but the server does not offer "
                                 "STARTTLS. falcana never falls back to an unencrypted "
                                 "connection."),
                               _("Use SSL (usually port 465) if the server offers it, or ask "
                                 "the provider for the right port."),
                               field="security", retry=Retry.AFTER_FIX, scope=Scope.MAILBOX,
                               specificity=30)
        if what == "SMTPUTF8":
            return Explanation("smtp.smtputf8_not_offered",
                               _("An address has non-ASCII characters before the @, and the "
                                 "server does not support such addresses (SMTPUTF8)."),
                               _("Use an address with only ASCII characters before the @."),
                               field="email", retry=Retry.AFTER_FIX, scope=Scope.MESSAGE,
                               specificity=30)
        return Explanation("smtp.auth_not_offered",
                           _("The server does not offer login (AUTH) on this connection."),
                           _("Many servers offer AUTH only on encrypted connections: choose "
                             "TLS or SSL."),
                           field="security", retry=Retry.AFTER_FIX, scope=Scope.MAILBOX,
                           specificity=20)
    if kind is FailureKind.NO_CREDENTIALS:
        return Explanation("smtp.no_password",
                           _("No password is stored for this mailbox."),
                           _("Enter the mailbox password."), field="password",
                           retry=Retry.AFTER_FIX, scope=Scope.MAILBOX, specificity=30)
    if kind is FailureKind.CLOSED:
        if step == "data":
            return Explanation("smtp.connection_lost_in_data",
                               _("The connection broke while the message was being sent. It "
                                 "may or may not have been delivered; it was not sent again."),
                               _("Check the recipient's mailbox before sending again."),
                               retry=Retry.LATER, scope=Scope.MESSAGE, specificity=20)
        return Explanation("smtp.connection_closed",
                           _("The server closed the connection (step {step}).", step=step),
                           _("Try again later; check connection type and port."),
                           retry=Retry.LATER, scope=Scope.MAILBOX)
    if kind is FailureKind.REPLY and reply is not None:
        return _explain_reply(f)
    return Explanation("smtp.unexpected",
                       _("The exchange failed at step {step} ({detail}).", step=step,
                         detail=f.detail),
                       _("Try again; if it persists, check all settings."),
                       retry=Retry.LATER, scope=Scope.MAILBOX, specificity=1)


def _explain_reply(f: DeliveryFailure) -> Explanation:
    reply = f.reply
    assert reply is not None
    code, step = reply.code, f.step
    enhanced = reply.enhanced or ""
    if step == "auth" or code in (534, 535) or enhanced in ("5.7.8", "5.7.3"):
        return Explanation("smtp.auth_failed",
                           _("The server refused the login: user name or password is wrong "
                             "({reply}).", reply=str(reply)),
                           _("Check E-mail username and E-mail password; some providers "
                             "need an app password."),
                           field="password", retry=Retry.AFTER_FIX, scope=Scope.MAILBOX,
                           specificity=20)
    if code == 530 or (enhanced in ("5.7.0", "5.7.57") and step == "mail_from"):
        return Explanation("smtp.auth_required",
                           _("The server wants a login before it accepts mail ({reply}).",
                             reply=str(reply)),
                           _("Enter E-mail username and E-mail password."),
                           field="username", retry=Retry.AFTER_FIX, scope=Scope.MAILBOX,
                           specificity=20)
    if code == 552 or enhanced in ("5.3.4", "5.2.3"):
        return Explanation("smtp.message_too_large",
                           _("The message is too large for the server ({reply}).",
                             reply=str(reply)),
                           _("Send smaller attachments."), retry=Retry.NO,
                           scope=Scope.MESSAGE, specificity=20)
    if code >= 500 and step == "mail_from":
        return Explanation("smtp.sender_refused",
                           _("The server refused the sender address ({reply}).",
                             reply=str(reply)),
                           _("The e-mail address must belong to this mailbox (or be allowed "
                             "to send for it)."),
                           field="email", retry=Retry.AFTER_FIX, scope=Scope.MAILBOX,
                           specificity=15)
    if code >= 500 and step == "rcpt_to":
        return Explanation("smtp.recipient_refused",
                           _("The server refused the recipient ({reply}).", reply=str(reply)),
                           _("Check the recipient's address."), retry=Retry.NO,
                           scope=Scope.RECIPIENT, specificity=15)
    if 400 <= code < 500:
        return Explanation("smtp.temporary_failure",
                           _("The server reported a temporary problem ({reply}).",
                             reply=str(reply)),
                           _("Try again later."), retry=Retry.LATER,
                           scope=Scope.MESSAGE, specificity=5)
    return Explanation("smtp.permanent_failure",
                       _("The server refused at step {step} ({reply}).", step=step,
                         reply=str(reply)),
                       _("Read the server's reply; retrying the same will fail again."),
                       retry=Retry.NO, scope=Scope.MESSAGE, specificity=5)



def _no_greeting(f: DeliveryFailure) -> Explanation:
    """Connected, but no greeting: most often TLS (or normal) spoken to an SSL port."""
    if f.security != "ssl" and f.port == 465:
        return Explanation("smtp.tls_on_ssl_port",
                           _("Port 465 expects an encrypted connection from the start "
                             "(SSL), but the connection type is not SSL."),
                           _("Set the connection type to SSL, or use port 587 with TLS."),
                           field="security", retry=Retry.AFTER_FIX, scope=Scope.MAILBOX,
                           specificity=30)
    return Explanation("smtp.no_greeting",
                       _("The server accepted the connection but did not answer."),
                       _("The port may expect SSL (465): check connection type and port."),
                       field="security", retry=Retry.AFTER_FIX, scope=Scope.MAILBOX,
                       specificity=20)
