"""The web app without a browser: sessions, throttling, roles, a host's own authentication."""

from __future__ import annotations

import urllib.parse
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


def test_repeated_failed_logins_are_slowed_down_then_wait(client: FlaskClient,
                                                          monkeypatch: Any) -> None:
    delays: list[float] = []
    monkeypatch.setattr("falcana_core.web.auth.time.sleep", delays.append)
    for _ in range(4):
        assert client.post("/login", data={"login": "admin", "password": "x"}
                           ).status_code == 401
    assert delays == sorted(delays) and delays[-1] > delays[0]  # each answer slower
    blocked = client.post("/login", data={"login": "admin", "password": "a-pw"})
    assert blocked.status_code == 429  # from this address, even the right password waits
    assert "Minute" in blocked.get_data(as_text=True)


def test_guessing_from_one_address_never_locks_out_another(app: Any, monkeypatch: Any) -> None:
    monkeypatch.setattr("falcana_core.web.auth.time.sleep", lambda _s: None)
    attacker = app.test_client()
    for _ in range(20):
        attacker.post("/login", data={"login": "admin", "password": "x"},
                      environ_base={"REMOTE_ADDR": "203.0.113.66"})
    office = app.test_client().post("/login", data={"login": "admin", "password": "a-pw"},
                                    environ_base={"REMOTE_ADDR": "198.51.100.7"})
    assert office.status_code == 302


def test_behind_a_trusted_proxy_the_client_address_counts(falcana_host: Host,
                                                          monkeypatch: Any) -> None:
    monkeypatch.setattr("falcana_core.web.auth.time.sleep", lambda _s: None)
    falcana_host.users.add("admin", email="admin@example.com", role="admin", password="a-pw")
    throttle._failures.clear()
    object.__setattr__(falcana_host.config, "trusted_proxies", 1)
    app = create_app(falcana_host, WTF_CSRF_ENABLED=False)
    proxy = {"REMOTE_ADDR": "10.0.0.2"}  # every request arrives from the proxy
    for _ in range(10):
        app.test_client().post("/login", data={"login": "admin", "password": "x"},
                               environ_base=proxy,
                               headers={"X-Forwarded-For": "203.0.113.66"})
    colleague = app.test_client().post("/login", data={"login": "admin", "password": "a-pw"},
                                       environ_base=proxy,
                                       headers={"X-Forwarded-For": "198.51.100.7"})
    assert colleague.status_code == 302


HOSTILE_NEXT = [
    "//evil.example/", "/\\evil.example/", "/\t/evil.example/", "/%09/evil.example/",
    "\t//evil.example", "https://evil.example/", "http:evil.example", "https:/evil.example",
    "//evil.example@falcana/", "///evil.example/", "javascript:alert(1)",
    "JaVaScRiPt:alert(1)", "data:text/html,<script>alert(1)</script>", "/\r\nLocation: x",
    "/%0d%0aSet-Cookie:x=1", "\\\\evil.example", "/\\/evil.example", "evil.example",
    " //evil.example", "/\x00//evil.example", "//%65vil.example", "/\u2028//evil.example",
    "ftp://evil.example", "/" + "a" * 3000,
]


def lands_here(location: str) -> bool:
    """A redirect a browser follows to this site only."""
    parts = urllib.parse.urlsplit(location)
    return parts.netloc in ("", "localhost") and not parts.path.startswith("//") and \
        all(ch.isprintable() and not ch.isspace() and ch != "\\" for ch in location)


@pytest.mark.parametrize("target", HOSTILE_NEXT)
def test_login_and_language_redirect_only_to_local_paths(app: Any, target: str) -> None:
    client = app.test_client()
    # as a browser sends it (percent escapes decoded once by the server) and encoded
    for query in ("next=" + target.replace(" ", "%20"), urllib.parse.urlencode({"next": target})):
        answer = client.post("/login?" + query, data={"login": "admin", "password": "a-pw"})
        assert answer.status_code == 302
        assert lands_here(answer.headers["Location"]), answer.headers["Location"]
        chosen = client.post("/language", data={"lang": "en", "next": target})
        assert chosen.status_code == 302
        assert lands_here(chosen.headers["Location"]), chosen.headers["Location"]


def test_a_local_next_is_kept(app: Any) -> None:
    answer = app.test_client().post("/login?next=/me%3Ftab%3D2",
                                    data={"login": "ulla", "password": "u-pw"})
    assert answer.headers["Location"] == "/me?tab=2"


def test_logout_ends_the_session_for_a_copied_cookie_too(app: Any) -> None:
    browser = app.test_client()
    browser.post("/login", data={"login": "admin", "password": "a-pw"})
    cookie = browser.get_cookie("falcana_session")
    assert cookie is not None
    thief = app.test_client()
    thief.set_cookie("falcana_session", cookie.value)
    assert thief.get("/admin").status_code == 200  # a copied cookie works while signed in
    browser.post("/logout")
    assert thief.get("/admin").status_code == 302  # and no longer after the logout


def test_a_password_change_ends_every_session_of_that_user(app: Any,
                                                           falcana_host: Host) -> None:
    first, second = app.test_client(), app.test_client()
    for browser in (first, second):
        browser.post("/login", data={"login": "ulla", "password": "u-pw"})
        assert browser.get("/me").status_code == 200
    falcana_host.users.set_password("ulla", "new-pw-2", actor="admin")
    assert first.get("/me").status_code == 302 and second.get("/me").status_code == 302


def test_the_cookie_carries_no_password_material(app: Any, falcana_host: Host) -> None:
    from flask.sessions import SecureCookieSessionInterface

    browser = app.test_client()
    browser.post("/login", data={"login": "admin", "password": "a-pw"})
    cookie = browser.get_cookie("falcana_session")
    data = SecureCookieSessionInterface().get_signing_serializer(app).loads(cookie.value)
    user = falcana_host.users.by_login("admin")
    assert set(data) <= {"sid", "lang", "csrf_token", "seen_panel"}
    assert user.password_hash[-12:] not in cookie.value and "pw" not in data


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
    # "Next" names the last user of the page, "Previous" the first (keyset paging)
    import re

    after = re.search(r'data-page="2" data-after="(\d+)"', first)
    assert after is not None
    second = client.get(f"/admin/users?q=näher&page=2&after={after[1]}").get_data(
        as_text=True)
    assert "Näher25" in second and "Näher24" not in second and "Näher50" not in second
    before = re.search(r'data-page="1" data-before="(\d+)"', second)
    assert before is not None
    back = client.get(f"/admin/users?q=näher&page=1&before={before[1]}").get_data(
        as_text=True)
    assert "Näher00" in back and "Näher24" in back and "Näher25" not in back


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


def test_plugin_help_renders_simple_markup_and_never_script(
        app: Any, falcana_host: Host, register_plugin: Callable[..., Any]) -> None:
    from falcana_core.sections import HelpText

    class Helpful:
        @hookimpl
        def section_help(self, ctx: Any, section_id: str, values: Any) -> list[HelpText]:
            return [HelpText("evil.help", "Hilfe", (
                '<p>Erst <strong>hier</strong> klicken: <a href="https://example.com/x" '
                'onclick="steal()">Anleitung</a></p><script>steal()</script>'
                '<img src=x onerror="steal()"><a href="javascript:steal()">weiter</a>'))]

    with register_plugin(Helpful(), "helpful"):
        client = app.test_client()
        client.post("/login", data={"login": "ulla", "password": "u-pw"})
        page = client.get("/me").get_data(as_text=True)
    aside = page.split('data-help="evil.help"')[1].split("</aside>")[0]
    assert "<p>Erst <strong>hier</strong> klicken:" in aside  # markup, not &lt;p&gt;
    assert 'href="https://example.com/x"' in aside
    assert "<script" not in aside and "onclick" not in aside and "onerror" not in aside
    assert "javascript:" not in aside and "steal()</script>" not in aside
