"""What a non-admin may do with their own mailbox, through the real web app: set the
password, name and server; not the address, not a pin, not a password that is bound
elsewhere (docs/security.md)."""

from __future__ import annotations

import ssl
from collections.abc import Callable
from typing import Any

import pytest
import trustme
from falcana_smtp_settings.testing.smtpd import SmtpTestServer
from flask.testing import FlaskClient

from falcana_core.host import Host
from falcana_core.models import Mailbox
from falcana_core.web import create_app
from falcana_core.web.auth import throttle

ADMIN_PW, USER_PW = "admin-pw-1", "user-pw-1"
PASSWORD = "Postfach-Passwort-1"


@pytest.fixture
def people(falcana_host: Host) -> dict[str, Mailbox]:
    falcana_host.users.add("admin", email="admin@example.com", role="admin",
                           password=ADMIN_PW)
    juergen = falcana_host.users.add("juergen", email="juergen@example.com", password=USER_PW)
    other = falcana_host.users.add("ulla", email="ulla@example.com", password=USER_PW)
    throttle._failures.clear()
    return {"juergen": falcana_host.mailboxes.personal(juergen),
            "ulla": falcana_host.mailboxes.personal(other)}


@pytest.fixture
def web(falcana_host: Host, people: dict[str, Mailbox]) -> Callable[[str], FlaskClient]:
    app = create_app(falcana_host, WTF_CSRF_ENABLED=False)
    clients: list[FlaskClient] = []

    def login(name: str) -> FlaskClient:
        client = app.test_client()
        clients.append(client)
        answer = client.post("/login", data={"login": name, "password": ADMIN_PW if
                                             name == "admin" else USER_PW})
        assert answer.status_code == 302
        return client

    return login


@pytest.fixture
def rogue_server(smtp_server: Callable[..., SmtpTestServer]) -> SmtpTestServer:
    rogue = trustme.CA(organization_name="rogue CA")
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    rogue.issue_cert("127.0.0.1").configure_cert(ctx)
    return smtp_server("starttls", users={"juergen@example.com": PASSWORD}, ssl_context=ctx)


def form(server: SmtpTestServer | None = None, **values: Any) -> dict[str, Any]:
    base = {"email": "juergen@example.com", "display_name": "", "username": "",
            "password": PASSWORD, "port": str(server.port if server else 587),
            "security": "tls", "host": "127.0.0.1"}
    base.update(values)
    return base


def save(client: FlaskClient, box: Mailbox, values: dict[str, Any]) -> Any:
    return client.post(f"/mailboxes/{box.id}/sections/smtp", data=values)


def test_a_user_cannot_change_the_mailbox_address(web: Callable[[str], FlaskClient],
                                                  people: dict[str, Mailbox],
                                                  falcana_host: Host) -> None:
    juergen = web("juergen")
    answer = save(juergen, people["juergen"], form(email="ceo@example.com"))
    assert answer.status_code == 422
    assert "Nur ein Admin" in answer.get_data(as_text=True)
    assert falcana_host.mailboxes.get(people["juergen"].id).address == "juergen@example.com"
    # a change of case is a change too: the local part is the receiving server's to read
    answer = save(juergen, people["juergen"], form(email="JUERGEN@example.com"))
    assert answer.status_code == 422 and "Nur ein Admin" in answer.get_data(as_text=True)
    assert falcana_host.mailboxes.get(people["juergen"].id).address == "juergen@example.com"
    # the rest of the form is theirs to change, and the address shown as it is passes
    assert save(juergen, people["juergen"], form(display_name="Jürgen M.")).status_code == 200
    # the admin may
    assert save(web("admin"), people["juergen"], form(email="j.m@example.com")
                ).status_code == 200


def test_the_same_rule_holds_for_the_python_api(falcana_host: Host,
                                                people: dict[str, Mailbox]) -> None:
    refused = falcana_host.save_section(people["juergen"], "smtp",
                                        form(email="ceo@example.com"), actor="juergen")
    assert not refused.saved and refused.validation.errors[0].code == "admin_only"
    from falcana_core.permissions import Forbidden

    with pytest.raises(Forbidden):  # another user's mailbox
        falcana_host.save_section(people["ulla"], "smtp", form(), actor="juergen")
    with pytest.raises(Forbidden):
        falcana_host.run_action(people["ulla"], "smtp.test", {}, actor="juergen")


def test_self_editing_off_closes_saving_and_testing(web: Callable[[str], FlaskClient],
                                                    people: dict[str, Mailbox],
                                                    falcana_host: Host) -> None:
    falcana_host.set_setting("core", "users_edit_own", False, actor="admin")
    juergen = web("juergen")
    assert save(juergen, people["juergen"], form()).status_code == 403
    assert juergen.post(f"/mailboxes/{people['juergen'].id}/actions/smtp.test"
                        ).status_code == 403


def test_the_password_goes_only_where_it_was_saved_for(
        web: Callable[[str], FlaskClient], people: dict[str, Mailbox],
        smtp_server: Callable[..., SmtpTestServer]) -> None:
    """The admin stores the password; the user points the mailbox at a listener of their
    own, leaving the password empty: the save is refused, the listener hears nothing."""
    real = smtp_server("normal", users={"juergen@example.com": PASSWORD})
    listener = smtp_server("normal", users={})
    assert save(web("admin"), people["juergen"], form(real, security="normal")
                ).status_code == 200
    juergen = web("juergen")
    moved = save(juergen, people["juergen"], form(listener, security="normal", password=""))
    assert moved.status_code == 422
    assert "Passwort erneut eingeben" in moved.get_data(as_text=True)
    tested = juergen.post(f"/mailboxes/{people['juergen'].id}/actions/smtp.test")
    assert tested.status_code == 200 and "Test bestanden" in tested.get_data(as_text=True)
    assert listener.credentials_heard == [] and listener.messages == []
    assert real.logins  # the test still went to the server the password was saved for


def test_pins_are_for_admins_for_one_mailbox_and_only_what_the_server_presented(
        web: Callable[[str], FlaskClient], people: dict[str, Mailbox],
        rogue_server: SmtpTestServer, falcana_host: Host) -> None:
    admin, juergen = web("admin"), web("juergen")
    for name in ("juergen", "ulla"):
        values = form(rogue_server, email=f"{name}@example.com")
        assert save(admin, people[name], values).status_code == 200
    box = people["juergen"]
    failed = juergen.post(f"/mailboxes/{box.id}/actions/smtp.test").get_data(as_text=True)
    assert 'data-explanation="smtp.certificate_untrusted"' in failed
    assert "data-post-url" not in failed and "Nur ein Admin kann" in failed
    # a user cannot pin, whatever they post
    refused = juergen.post(f"/plugins/smtp_settings/mailboxes/{box.id}/pin",
                           data={"sha256": "ab" * 32})
    assert refused.status_code == 403
    # the admin's test offers the pin; a fingerprint in the request changes nothing
    offered = admin.post(f"/mailboxes/{box.id}/actions/smtp.test").get_data(as_text=True)
    assert "data-post-url" in offered
    pinned = admin.post(f"/plugins/smtp_settings/mailboxes/{box.id}/pin",
                        data={"sha256": "ab" * 32})
    assert pinned.status_code == 200
    from falcana_smtp_settings.settings import load_settings

    shown = offered.split('<code class="fingerprint">')[1].split("<")[0]
    assert load_settings(falcana_host, box).pin == shown != "ab" * 32
    assert juergen.post(f"/mailboxes/{box.id}/actions/smtp.test").status_code == 200
    assert len(rogue_server.messages) == 1
    # the other mailbox on the same server is not pinned: still refused
    other = admin.post(f"/mailboxes/{people['ulla'].id}/actions/smtp.test").get_data(
        as_text=True)
    assert 'data-explanation="smtp.certificate_untrusted"' in other
    assert len(rogue_server.messages) == 1
