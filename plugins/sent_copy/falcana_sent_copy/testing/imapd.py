"""A real IMAP server for tests: Debian's Dovecot, started with its own configuration in a
temporary folder, on loopback, with a certificate from the test CA.

    server = DovecotTestServer(tmp_path, test_ca, {"anna@firma.example": "pw"}).start()
    server.create("anna@firma.example", "Gesendete Elemente")
    ... server.port (STARTTLS), server.ssl_port (implicit TLS)
    server.messages("anna@firma.example", "Gesendete Elemente")

Dovecot must be installed (``dovecot-imapd``); ``.ci/run`` installs it.
"""

from __future__ import annotations

import imaplib
import os
import shutil
import socket
import ssl
import subprocess
import time
from pathlib import Path
from typing import Any

from falcana_core.testing.net import free_port

DOVECOT = "/usr/sbin/dovecot"
NOBODY = 65534
#: folders Dovecot marks SPECIAL-USE \Sent when a user has them
SPECIAL_SENT = ("Sent", "Gesendete Objekte – Büro")


def available() -> bool:
    return shutil.which("dovecot") is not None or Path(DOVECOT).exists()


def encode_utf7(name: str) -> str:
    """RFC 3501 5.1.3 modified UTF-7, for the fixture's own CREATE."""
    import base64

    out: list[str] = []
    buffer: list[str] = []

    def flush() -> None:
        if buffer:
            raw = "".join(buffer).encode("utf-16-be")
            out.append("&" + base64.b64encode(raw).decode().rstrip("=").replace("/", ",") + "-")
            buffer.clear()

    for ch in name:
        if 0x20 <= ord(ch) <= 0x7E:
            flush()
            out.append("&-" if ch == "&" else ch)
        else:
            buffer.append(ch)
    flush()
    return "".join(out)


class DovecotTestServer:
    def __init__(self, ca: Any, users: dict[str, str], *, host: str = "127.0.0.1",
                 introspection_url: str | None = None, names: tuple[str, ...] = (),
                 layout: str = "dovecot") -> None:
        """``introspection_url``: XOAUTH2 tokens are checked there (RFC 7662), as Gmail's
        and Microsoft's IMAP servers check theirs. ``layout``: ``"dovecot"`` (folders at
        the top, separator ``/``, the usual Sent folders marked SPECIAL-USE) or
        ``"courier"`` (every folder under the personal namespace ``INBOX.``, separator
        ``.``, nothing marked: Courier- and cPanel-style hosts)."""
        if layout not in ("dovecot", "courier"):
            raise ValueError(f"unknown layout {layout!r}")
        self.layout = layout
        self.introspection_url = introspection_url
        self.names = names  # more host names for the certificate
        import tempfile

        # not under pytest's tmp_path: its parents are closed to other users
        self.folder = Path(tempfile.mkdtemp(prefix="falcana-dovecot-"))
        self.users = dict(users)
        self.host = host
        self.port = free_port()
        self.ssl_port = free_port()
        self._ca = ca
        self.ca_file: Path | None = None  # a PEM of the CA, for clients that need a file
        self._proc: subprocess.Popen[bytes] | None = None

    def _config(self) -> Path:
        f = self.folder
        for sub in ("run", "state", "mail"):
            (f / sub).mkdir(parents=True, exist_ok=True)
        # mail is stored as "nobody" (Dovecot refuses root): it must reach its folder
        f.chmod(0o711)
        os.chown(f / "mail", NOBODY, NOBODY)
        cert = self._ca.issue_cert(self.host, "localhost", *self.names)
        cert.private_key_and_cert_chain_pem.write_to_path(str(f / "server.pem"))
        (f / "users").write_text("".join(
            f"{user}:{{PLAIN}}{password}:{NOBODY}:{NOBODY}::{f / 'mail' / user}\n"
            for user, password in self.users.items()), encoding="utf-8")
        if self.layout == "courier":
            namespace = '  prefix = INBOX.\n  separator = .\n'
        else:
            namespace = "  separator = /\n" + "".join(
                f'  mailbox "{name}" {{\n    special_use = \\Sent\n  }}\n'
                for name in SPECIAL_SENT)
        oauth = ""
        mechanisms = "plain login"
        if self.introspection_url:
            # the authorization server's certificate is the test CA's (HTTPS only)
            self._ca.cert_pem.write_to_path(str(f / "oauth-ca.pem"))
            (f / "oauth2.conf").write_text(
                f"introspection_mode = post\nintrospection_url = {self.introspection_url}\n"
                f"tls_ca_cert_file = {f / 'oauth-ca.pem'}\n"
                "username_attribute = email\nactive_attribute = active\n"
                "active_value = true\n", encoding="utf-8")
            oauth = (f"passdb {{\n  driver = oauth2\n  mechanisms = xoauth2 oauthbearer\n"
                     f"  args = {f / 'oauth2.conf'}\n}}\n")
            mechanisms += " xoauth2 oauthbearer"
        conf = f"""
base_dir = {f / 'run'}
state_dir = {f / 'state'}
log_path = {f / 'dovecot.log'}
protocols = imap
listen = {self.host}
ssl = yes
ssl_cert = <{f / 'server.pem'}
ssl_key = <{f / 'server.pem'}
disable_plaintext_auth = yes
auth_mechanisms = {mechanisms}
{oauth}# tests log in wrongly on purpose: no growing delay for the next attempt
auth_failure_delay = 0
login_trusted_networks = 127.0.0.0/8
default_login_user = dovenull
default_internal_user = dovecot
mail_location = maildir:~/Maildir
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {f / 'users'}
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {f / 'users'}
}}
namespace inbox {{
  inbox = yes
{namespace}}}
# high-performance mode, as busy servers run: a login process serves many connections
# (the default forks one per connection)
service imap-login {{
  service_count = 0
  process_min_avail = 2
  inet_listener imap {{
    address = {self.host}
    port = {self.port}
  }}
  inet_listener imaps {{
    address = {self.host}
    port = {self.ssl_port}
    ssl = yes
  }}
}}
service auth {{
  user = root
}}
service auth-worker {{
  user = root
}}
service stats {{
  unix_listener stats-reader {{
    mode = 0600
  }}
  unix_listener stats-writer {{
    mode = 0600
  }}
}}
"""
        path = f / "dovecot.conf"
        path.write_text(conf, encoding="utf-8")
        return path

    def start(self) -> DovecotTestServer:
        conf = self._config()
        self._proc = subprocess.Popen([DOVECOT, "-F", "-c", str(conf)],  # noqa: S603
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                with socket.create_connection((self.host, self.port), timeout=1):
                    return self
            except OSError:
                if self._proc.poll() is not None:
                    err = self._proc.stderr.read().decode() if self._proc.stderr else ""
                    raise RuntimeError(f"dovecot did not start: {err}") from None
                time.sleep(0.1)
        raise RuntimeError("dovecot did not listen in time")

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
            self._proc = None
        shutil.rmtree(self.folder, ignore_errors=True)

    # -- looking inside, as a mail program would ----------------------------------------

    def _client(self, user: str) -> imaplib.IMAP4_SSL:
        ctx = ssl.create_default_context()
        self._ca.configure_trust(ctx)
        client = imaplib.IMAP4_SSL(self.host, self.ssl_port, ssl_context=ctx, timeout=10)
        client._encoding = "utf-8"  # type: ignore[attr-defined]  # passwords with umlauts
        client.login(user, self.users[user])
        return client

    def create(self, user: str, folder: str) -> None:
        client = self._client(user)
        try:
            typ, data = client.create('"' + encode_utf7(folder) + '"')
            assert typ == "OK", data
        finally:
            client.logout()

    def messages(self, user: str, folder: str) -> list[tuple[bytes, bytes]]:
        """(flags, bytes) of every message in ``folder``."""
        client = self._client(user)
        try:
            typ, count = client.select('"' + encode_utf7(folder) + '"', readonly=True)
            assert typ == "OK"
            if int(count[0] or 0) == 0:
                return []
            typ, data = client.fetch("1:*", "(FLAGS RFC822)")
            if typ != "OK" or not data or data == [None]:
                return []
            found = []
            for item in data:
                if isinstance(item, tuple):
                    found.append((item[0], item[1]))
            return found
        finally:
            client.logout()

    def append(self, user: str, folder: str, content: bytes, flags: str = "") -> None:
        """Put a message in ``folder`` as a mail server's delivery would (for the inbox:
        ``"INBOX"``)."""
        client = self._client(user)
        try:
            name = folder if folder == "INBOX" else '"' + encode_utf7(folder) + '"'
            typ, data = client.append(name, flags or None, None, content)
            assert typ == "OK", data
        finally:
            client.logout()

    def delete(self, user: str, folder: str, numbers: list[int]) -> None:
        """Delete messages by their sequence numbers (1-based), as a mail program would."""
        client = self._client(user)
        try:
            typ, _ = client.select('"' + encode_utf7(folder) + '"')
            assert typ == "OK"
            for number in numbers:
                client.store(str(number), "+FLAGS", "(\\Deleted)")
            client.expunge()
        finally:
            client.logout()

    def log_count(self, text: str) -> int:
        """How often ``text`` stands in the server's log (``imap-login: Info: Login: user=``
        counts logins)."""
        log = self.folder / "dovecot.log"
        return log.read_text(encoding="utf-8", errors="replace").count(text) \
            if log.exists() else 0
