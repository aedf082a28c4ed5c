"""``falcana demo``: everything needed to try falcana on one machine.

An embedded SQLite database and a key file in a data directory, users with German names,
a local SMTP sink (aiosmtpd, STARTTLS with a certificate from the demo's own CA) whose
received mail the web UI shows at /sink, and one user preconfigured against that sink so
"Test-e-mail senden" succeeds at once.
"""

from __future__ import annotations

import dataclasses
import email
import email.policy
import ssl
import time
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING, Any

from falcana_smtp_settings.ids import SECTION_ID

if TYPE_CHECKING:
    from flask import Flask

    from falcana_core.api import Host

ADMIN_LOGIN = "admin"
ADMIN_PASSWORD = "falcana-demo"  # printed at start: a demo on loopback only
SINK_USER = "juergen@example.com"
SINK_PASSWORD = "demo-passwort"

USERS = [
    # login, first, last, e-mail, admin
    ("admin", "Astrid", "Adler", "astrid.adler@example.com", True),
    ("juergen", "Jürgen", "Müßig", SINK_USER, False),
    ("aenne", "Änne", "Schröder", "aenne.schroeder@example.com", False),
    ("bjoern", "Björn", "Weiß", "bjoern.weiss@example.com", False),
    ("zoe", "Zoë", "Öztürk", "zoe.oeztuerk@example.com", False),
    ("max", "Max", "Mustermann", "max.mustermann@gmail.com", False),
    ("anna", "Anna", "Kühn", "anna.kuehn@contoso.onmicrosoft.com", False),
]
FIRST = ["Lena", "Jonas", "Mia", "Lukas", "Sophie", "Felix", "Emma", "Paul", "Hannah", "Leon",
         "Marie", "Elias", "Greta", "Noah", "Ida", "Timo"]
LAST = ["Bauer", "Fischer", "Groß", "Hoffmann", "Jäger", "König", "Lange", "Möller", "Neumann",
        "Peters", "Schäfer", "Vogel", "Wagner", "Zimmermann"]


@dataclasses.dataclass
class Sink:
    """The demo's SMTP server: stores what it receives as .eml files in the data directory."""

    folder: Path
    port: int
    controller: Any = None

    def start(self, cert_dir: Path) -> Sink:
        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult, LoginPassword

        folder = self.folder
        folder.mkdir(parents=True, exist_ok=True)

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                name = f"{time.time_ns()}.eml"
                (folder / name).write_bytes(envelope.original_content or b"")
                return "250 2.0.0 OK: queued in the falcana demo sink"

        def authenticate(server: Any, session: Any, envelope: Any, mechanism: str,
                         data: Any) -> AuthResult:
            ok = isinstance(data, LoginPassword) and data.login.decode() == SINK_USER and \
                data.password.decode() == SINK_PASSWORD
            return AuthResult(success=ok, handled=False,
                              message=None if ok else "535 5.7.8 Authentication credentials "
                                                      "invalid")

        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(cert_dir / "sink-cert.pem", cert_dir / "sink-key.pem")
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port,
                                     tls_context=ctx, authenticator=authenticate,
                                     enable_SMTPUTF8=True, decode_data=False)
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()

    def messages(self) -> list[tuple[str, EmailMessage]]:
        found = []
        for path in sorted(self.folder.glob("*.eml"), reverse=True)[:200]:
            msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            found.append((path.stem, msg))
        return found


def demo_certificates(data_dir: Path) -> Path:
    """The demo CA (trusted through FALCANA_CA_BUNDLE) and the sink's certificate."""
    ca_file = data_dir / "demo-ca.pem"
    if not ca_file.exists():
        import trustme

        ca = trustme.CA(organization_name="falcana demo CA")
        cert = ca.issue_cert("127.0.0.1", "localhost")
        cert.private_key_pem.write_to_path(str(data_dir / "sink-key.pem"))
        cert.cert_chain_pems[0].write_to_path(str(data_dir / "sink-cert.pem"))
        (data_dir / "sink-key.pem").chmod(0o600)
        ca.cert_pem.write_to_path(str(ca_file))
    return ca_file


def seed(host: Host, sink_port: int) -> None:
    """Users with German names and one mailbox configured against the sink (first run)."""
    if host.users.by_login(ADMIN_LOGIN) is None:
        for login, first, last, address, admin in USERS:
            host.users.add(login, first_name=first, last_name=last, email=address,
                           role="admin" if admin else "user",
                           password=ADMIN_PASSWORD if admin else "falcana-user",
                           actor="demo")
        for i in range(60):
            first, last = FIRST[i % len(FIRST)], LAST[i % len(LAST)]
            host.users.add(f"{first.lower()}{i}", first_name=first, last_name=last,
                           email=f"{first.lower()}.{i}@example.com", actor="demo")
        host.mailboxes.create_shared("info@example.com", "Autohaus Müller – Info",
                                     actor="demo")
    juergen = host.users.by_login("juergen")
    assert juergen is not None
    result = host.save_section(host.mailboxes.personal(juergen), SECTION_ID, {
        "email": SINK_USER, "display_name": "", "username": SINK_USER,
        "password": SINK_PASSWORD, "port": sink_port, "security": "tls",
        "host": "127.0.0.1"}, actor="demo")
    assert result.saved, result.validation.messages


def sink_pages(app: Flask, sink: Sink) -> None:
    from flask import Blueprint, abort, render_template

    from falcana_core.api.web import login_required

    bp = Blueprint("sink", __name__, url_prefix="/sink",
                   template_folder=str(Path(__file__).parent / "templates"))

    @bp.app_template_filter("mail_date")
    def mail_date(value: object) -> str:
        """A Date header as the reader's language writes dates (03.12.2026, 16:02)."""
        import email.utils

        from babel.dates import format_datetime

        from falcana_core.api import current_language

        try:
            when = email.utils.parsedate_to_datetime(str(value))
        except (TypeError, ValueError):
            return str(value or "")
        return format_datetime(when, "short", locale=current_language())

    @bp.route("/")
    @login_required
    def index() -> str:
        return render_template("sink.html", messages=sink.messages(), shown=None)

    @bp.route("/<name>")
    @login_required
    def show(name: str) -> str:
        found = [m for m in sink.messages() if m[0] == name]
        if not found:
            abort(404)
        msg = found[0][1]
        body = msg.get_body(("plain",))
        return render_template("sink.html", messages=sink.messages(), shown=msg, name=name,
                               text=body.get_content() if body is not None else "",
                               headers=list(msg.items()))

    app.register_blueprint(bp)


def run(port: int, sink_port: int, data_dir: Path) -> None:
    import os

    import click

    from falcana_core.api import Config
    from falcana_core.api.cli import start_host
    from falcana_core.api.net import NetPolicy
    from falcana_core.api.web import create_app, serve

    data_dir.mkdir(parents=True, exist_ok=True)
    ca = demo_certificates(data_dir)
    # the sink listens on loopback, which the destination policy refuses by default
    policy = NetPolicy.parse(os.environ.get("FALCANA_ALLOW_NETWORKS") or "loopback",
                             os.environ.get("FALCANA_USER_PORTS", ""))
    config = Config.from_env(ca_bundle=ca, data_dir=data_dir, net_policy=policy,
                             database_url=f"sqlite:///{data_dir / 'falcana.db'}",
                             base_url=f"http://127.0.0.1:{port}")
    host = start_host(config)
    sink = Sink(data_dir / "sink", sink_port).start(data_dir)
    try:
        seed(host, sink_port)
        app = create_app(host, FALCANA_DEMO_LOGIN=(ADMIN_LOGIN, ADMIN_PASSWORD))
        sink_pages(app, sink)
        url = f"http://127.0.0.1:{port}/"
        click.echo(f"""
falcana demo is running: {url}

  Log in as        {ADMIN_LOGIN} / {ADMIN_PASSWORD}
  Then             Admin-Bereich > "User-Verwaltung" > double-click "Müßig, Jürgen"
                   > "Test-e-mail senden"
  Received mail    {url}sink/   (the local SMTP sink on 127.0.0.1:{sink_port}, STARTTLS)
  Data directory   {data_dir}

Press Ctrl+C to stop.
""")
        serve(app, "127.0.0.1", port)
    finally:
        sink.stop()
        host.close()
