"""The admins' health view and the notice at login, through the web app (Flask's test
client) with a real SMTP server: counts, filters, the cause and fix of each mailbox, the
CSV export, who may see it, and what a user is told when their mailbox cannot send."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable

import pytest
from falcana_smtp_settings.testing.smtpd import SmtpTestServer
from flask.testing import FlaskClient

from falcana_core.host import Host
from falcana_core.models import Mailbox
from falcana_core.web import create_app

PW = "Postfach-Pw-1"


@pytest.fixture
def host(falcana_host: Host) -> Host:
    object.__setattr__(falcana_host.config, "health_every", 86400.0)
    falcana_host.users.add("admin", role="admin", password="admin-pw",
                           email="admin@firma.example")
    return falcana_host


def saved_mailbox(host: Host, login: str, address: str, server: SmtpTestServer) -> Mailbox:
    user = host.users.add(login, first_name=login.title(), last_name="Muster", email=address,
                          password="user-pw")
    box = host.mailboxes.personal(user)
    assert host.save_section(box, "smtp", {
        "email": address, "username": address, "password": PW, "host": "127.0.0.1",
        "port": server.port, "security": "tls"}, actor="admin").saved
    return box


@pytest.fixture
def boxes(host: Host, smtp_server: Callable[..., SmtpTestServer]) -> dict[str, Mailbox]:
    server = smtp_server("starttls", users={"jana@firma.example": PW,
                                            "=cmd@firma.example": PW})
    found = {"jana": saved_mailbox(host, "jana", "jana@firma.example", server),
             "tom": saved_mailbox(host, "tom", "tom@firma.example", server),
             "formula": saved_mailbox(host, "formel", "=cmd@firma.example", server)}
    for box in found.values():
        host.health.verify(box)  # tom's password is unknown to the server: broken
    return found


def client_for(host: Host, login: str, password: str) -> FlaskClient:
    client = create_app(host, WTF_CSRF_ENABLED=False).test_client()
    done = client.post("/login", data={"login": login, "password": password})
    assert done.status_code == 302
    return client


def test_the_view_counts_and_lists_what_needs_attention_with_cause_and_fix(
        host: Host, boxes: dict[str, Mailbox]) -> None:
    client = client_for(host, "admin", "admin-pw")
    page = client.get("/admin/health", headers={"Accept-Language": "de"})
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'data-count="broken">1<' in html and 'data-count="ok">2<' in html
    assert "tom@firma.example" in html and "jana@firma.example" not in html  # problems only
    assert "Passwort" in html  # the explanation's fix names the field
    assert PW not in html
    every = client.get("/admin/health?state=all").get_data(as_text=True)
    assert "jana@firma.example" in every and "tom@firma.example" in every
    found = client.get("/admin/health?state=all&q=JANA").get_data(as_text=True)
    assert "jana@firma.example" in found and "tom@firma.example" not in found
    admin_page = client.get("/admin").get_data(as_text=True)
    assert "/admin/health?state=broken" in admin_page


def test_the_csv_holds_the_filtered_list_and_no_cell_runs_as_a_formula(
        host: Host, boxes: dict[str, Mailbox]) -> None:
    client = client_for(host, "admin", "admin-pw")
    answer = client.get("/admin/health.csv?state=all")
    assert answer.status_code == 200 and answer.mimetype == "text/csv"
    assert "attachment" in answer.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(answer.get_data(as_text=True).lstrip("\ufeff"))))
    by_address = {r["address"]: r for r in rows}
    assert by_address["tom@firma.example"]["state"] == "broken"
    assert by_address["tom@firma.example"]["cause"]
    assert "'=cmd@firma.example" in by_address  # quoted: a spreadsheet shows it as text
    assert PW not in answer.get_data(as_text=True)
    broken = client.get("/admin/health.csv?state=broken").get_data(as_text=True)
    assert "tom@firma.example" in broken and "jana@firma.example" not in broken


def test_only_admins_see_it_and_check_now_asks_the_worker(
        host: Host, boxes: dict[str, Mailbox]) -> None:
    user = client_for(host, "jana", "user-pw")
    assert user.get("/admin/health").status_code == 403
    assert user.get("/admin/health.csv").status_code == 403
    assert user.post(f"/admin/health/{boxes['tom'].id}/check").status_code == 403
    admin = client_for(host, "admin", "admin-pw")
    before = host.health.report(boxes["tom"]).next_check_at
    done = admin.post(f"/admin/health/{boxes['tom'].id}/check?state=broken")
    assert done.status_code == 302 and "state=broken" in done.headers["Location"]
    after = host.health.report(boxes["tom"]).next_check_at
    assert before is not None and after is not None and after < before
    assert admin.post("/admin/health/99999/check").status_code == 404


def test_a_user_whose_mailbox_cannot_send_is_told_at_login(
        host: Host, boxes: dict[str, Mailbox]) -> None:
    client = create_app(host, WTF_CSRF_ENABLED=False).test_client()
    done = client.post("/login", data={"login": "tom", "password": "user-pw"},
                       headers={"Accept-Language": "de"}, follow_redirects=True)
    html = done.get_data(as_text=True)
    assert "Ihr Postfach kann nicht mehr senden" in html and "health-banner" in html
    again = client.get("/me").get_data(as_text=True)
    assert "Ihr Postfach kann nicht mehr senden" not in again  # told once, at login
    fine = create_app(host, WTF_CSRF_ENABLED=False).test_client()
    shown = fine.post("/login", data={"login": "jana", "password": "user-pw"},
                      follow_redirects=True).get_data(as_text=True)
    assert "health-banner" not in shown


def test_a_user_who_may_not_edit_is_sent_to_an_admin(
        host: Host, boxes: dict[str, Mailbox]) -> None:
    assert host.save_section(None, "general", {"users_edit_own": False},
                             actor="admin").saved
    client = create_app(host, WTF_CSRF_ENABLED=False).test_client()
    html = client.post("/login", data={"login": "tom", "password": "user-pw"},
                       headers={"Accept-Language": "de"},
                       follow_redirects=True).get_data(as_text=True)
    assert "Bitte wenden Sie sich an einen Admin." in html
    assert "Öffnen Sie „Meine Einstellungen“" not in html
