"""The web app without a browser: sessions, throttling, roles, a host's own authentication."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient

from falcana_core import hookimpl
from falcana_core.host import Host
from falcana_core.web import create_app
from falcana_core.web.auth import throttle


@pytest.fixture
def app(falcana_host: Host) -> Any:
    falcana_host.users.add("admin", email="admin@example.com", role="admin", password="a-pw")
    falcana_host.users.add("ulla", email="ulla@example.com", password="u-pw")
    throttle._failures.clear()
    return create_app(falcana_host, WTF_CSRF_ENABLED=False)


@pytest.fixture
def client(app: Any) -> Iterator[FlaskClient]:
    with app.test_client() as c:
        yield c


def test_session_cookie_is_httponly_and_samesite(client: FlaskClient) -> None:
    response = client.post("/login", data={"login": "admin", "password": "a-pw"})
    assert response.status_code == 302
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "falcana_session" in cookie


def test_secure_cookie_behind_https(falcana_host: Host) -> None:
    object.__setattr__(falcana_host.config, "base_url", "https://crm.example.com")
    app = create_app(falcana_host)
    assert app.config["SESSION_COOKIE_SECURE"] is True


def test_repeated_failed_logins_are_slowed_down_then_refused(client: FlaskClient,
                                                             monkeypatch: Any) -> None:
    delays: list[float] = []
    monkeypatch.setattr("falcana_core.web.auth.time.sleep", delays.append)
    for _ in range(5):
        assert client.post("/login", data={"login": "admin", "password": "x"}
                           ).status_code == 401
    assert delays == sorted(delays) and delays[-1] > delays[0]  # each answer slower
    blocked = client.post("/login", data={"login": "admin", "password": "a-pw"})
    assert blocked.status_code == 429  # even the right password waits out the window
    assert "Minuten" in blocked.get_data(as_text=True)


def test_non_admin_gets_403_pages_not_blank(client: FlaskClient) -> None:
    client.post("/login", data={"login": "ulla", "password": "u-pw"})
    response = client.get("/admin", headers={"Accept-Language": "en"})
    assert response.status_code == 403
    assert "No access" in response.get_data(as_text=True)
    assert client.get("/admin/users").status_code == 403
    assert client.get("/me").status_code == 200


def test_admin_can_switch_off_own_settings(client: FlaskClient, falcana_host: Host) -> None:
    from falcana_core.general import OWNER, USERS_EDIT_OWN

    falcana_host.set_setting(OWNER, USERS_EDIT_OWN, False, actor="admin")
    client.post("/login", data={"login": "ulla", "password": "u-pw"})
    assert client.get("/me").status_code == 403
    box = falcana_host.mailboxes.personal(falcana_host.users.by_login("ulla"))  # type: ignore[arg-type]
    assert client.get(f"/mailboxes/{box.id}/popup").status_code == 403


def test_deployment_settings_page_saves(client: FlaskClient, falcana_host: Host) -> None:
    from falcana_core.general import users_may_edit_own

    client.post("/login", data={"login": "admin", "password": "a-pw"})
    page = client.get("/admin/settings").get_data(as_text=True)
    assert "users_edit_own" in page
    response = client.post("/admin/settings", data={"_section": "general"})
    assert response.status_code == 200 and not users_may_edit_own(falcana_host)


def test_user_list_search_and_paging(client: FlaskClient, falcana_host: Host) -> None:
    for i in range(60):
        falcana_host.users.add(f"u{i}", first_name="Öskar", last_name=f"Näher{i:02d}")
    client.post("/login", data={"login": "admin", "password": "a-pw"})
    first = client.get("/admin/users?q=näher&page=1").get_data(as_text=True)
    assert "Näher00" in first and "Näher25" not in first
    third = client.get("/admin/users?q=näher&page=3").get_data(as_text=True)
    assert "Näher59" in third and "data-page=\"2\"" in third


def test_host_supplies_the_current_user(falcana_host: Host,
                                        register_plugin: Callable[..., Any]) -> None:
    class HostAuth:
        @hookimpl
        def current_user(self, host: Host, request: Any) -> Any:
            login = request.headers.get("X-Crm-User")
            return host.users.by_login(login) if login else None

    with register_plugin(HostAuth(), "crm_auth"):
        falcana_host.users.add("crm-admin", email="c@example.com", role="admin")
        app = create_app(falcana_host)
        client = app.test_client()
        assert client.get("/admin").status_code == 302  # not logged in: to the login page
        assert client.get("/admin", headers={"X-Crm-User": "crm-admin"}).status_code == 200


def test_popup_shows_recent_mail_and_a_pause(client: FlaskClient, falcana_host: Host) -> None:
    import datetime as dt
    from email.message import EmailMessage

    from falcana_core.models import MailboxQueue, OutboxMessage, utcnow

    box = falcana_host.mailboxes.personal(falcana_host.users.by_login("ulla"))  # type: ignore[arg-type]
    msg = EmailMessage()
    msg["To"] = "kunde@example.org"
    msg["Subject"] = "Angebot 4711"
    msg.set_content("x")
    outbox_id = falcana_host.outbox.enqueue(box, msg)
    with falcana_host.transaction() as s:
        row = s.get(OutboxMessage, outbox_id)
        row.status, row.last_error = "failed", {"reply": "550 5.1.1 unknown", "explanation": {
            "cause": "Der Server hat den Empfänger abgelehnt."}}  # type: ignore[union-attr]
        s.add(MailboxQueue(mailbox_id=box.id, paused_until=utcnow() + dt.timedelta(hours=1),
                           reason={"explanation": {"cause": "Falsches Passwort.",
                                                   "fix": "Passwort prüfen."}}))
    client.post("/login", data={"login": "admin", "password": "a-pw"})
    page = client.get(f"/mailboxes/{box.id}/popup", headers={"Accept-Language": "de"}
                      ).get_data(as_text=True)
    assert "Postausgang" in page and "Angebot 4711" in page
    assert "fehlgeschlagen" in page and "Empfänger abgelehnt" in page
    assert "Der Versand ist angehalten" in page and "Falsches Passwort." in page
