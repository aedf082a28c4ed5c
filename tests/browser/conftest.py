"""Browser tests: Debian's Chromium driven by Playwright against `falcana serve` on loopback.

Chromium is found through FALCANA_TEST_CHROMIUM (default /usr/bin/chromium); without it the
tests are skipped loudly on a laptop and fail under CI=true.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from falcana_smtp_settings.testing.smtpd import SmtpTestServer

from falcana_core.host import Host
from falcana_core.testing import make_config, require_service
from falcana_core.testing.net import free_port

CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run",
                  "--disable-quic", "--disable-dev-shm-usage"]
SCREENSHOTS = Path(__file__).parent.parent.parent / "docs" / "screenshots"
ADMIN_PW = "Admin-Pw-1"
USER_PW = "User-Pw-1"
SMTP_PW = "Jürgens-Postfach-1"


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    path = os.environ.get("FALCANA_TEST_CHROMIUM", "/usr/bin/chromium")
    if not Path(path).exists():
        require_service("Chromium", f"{path} not found (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=path, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


@dataclasses.dataclass
class Web:
    url: str
    data_dir: Path
    config: Any
    smtp: SmtpTestServer

    def host(self) -> Host:
        return Host.start(self.config)


def serve(data: Path, env: dict[str, str], port: int | None = None
          ) -> tuple[subprocess.Popen[bytes], str]:
    """`falcana serve` on loopback for a data directory; waits until it answers."""
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    full = {**os.environ, "FALCANA_DATA_DIR": str(data), "FALCANA_LANG": "de",
            "FALCANA_NET_TIMEOUT": "5", "FALCANA_TEST_DEADLINE": "8",
            "FALCANA_ALLOW_NETWORKS": "loopback",
            "FALCANA_USER_PORTS": "25,465,587,2525,1024-65535",
            "FALCANA_BASE_URL": url, **env}
    proc = subprocess.Popen([sys.executable, "-m", "falcana_core", "serve", "--port", str(port)],
                            env=full, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(url + "/login", timeout=1)
            return proc, url
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError("falcana serve did not start: "  # noqa: B904
                                   + (proc.stderr.read().decode() if proc.stderr else ""))
            time.sleep(0.1)


@pytest.fixture
def web(tmp_path: Path, test_ca_bundle: Path, dns_server: Any,
        smtp_server: Any) -> Iterator[Web]:
    data = tmp_path / "data"
    config = make_config(data, ca_bundle=test_ca_bundle, dns_servers=(dns_server.address,))
    host = Host.start(config)
    host.users.add("admin", first_name="Astrid", last_name="Adler",
                   email="astrid@example.com", role="admin", password=ADMIN_PW)
    host.users.add("juergen", first_name="Jürgen", last_name="Müßig",
                   email="juergen@example.com", password=USER_PW)
    host.users.add("bert", first_name="Bert", last_name="Brandt", email="bert@example.com",
                   password=USER_PW)
    host.users.add("gina", first_name="Gina", last_name="Gmailer", email="gina@gmail.com")
    for i in range(30):
        host.users.add(f"user{i:02d}", first_name="Erika", last_name=f"Muster{i:02d}",
                       email=f"erika{i}@example.com")
    host.close()
    smtp = smtp_server("starttls", users={"juergen@example.com": SMTP_PW})
    proc, url = serve(data, {"FALCANA_CA_BUNDLE": str(test_ca_bundle),
                             "FALCANA_DNS_SERVERS": dns_server.address})
    yield Web(url, data, config, smtp)
    proc.terminate()
    proc.wait(10)


@pytest.fixture
def page(chromium: Any, web: Web) -> Iterator[Any]:
    context = chromium.new_context(locale="de-DE", viewport={"width": 1280, "height": 1100})
    context.set_default_timeout(15_000)
    pg = context.new_page()
    yield pg
    context.close()


def _log_in(page: Any, url: str, user: str, password: str) -> None:
    page.goto(url + "/login")
    page.fill("#login", user)
    page.fill("#password", password)
    with page.expect_navigation():
        page.click("button[type=submit]")


@pytest.fixture
def login(page: Any, web: Web) -> Any:
    """``login()`` as the admin, ``login("juergen", USER_PW)`` as a plain user."""

    def do(user: str = "admin", password: str = ADMIN_PW) -> None:
        _log_in(page, web.url, user, password)

    return do


@pytest.fixture
def admin_at(chromium: Any, web: Web) -> Iterator[Any]:
    """``page = admin_at(1280, 720)``: a page of that size, logged in as the admin."""
    contexts: list[Any] = []

    def open_page(width: int, height: int) -> Any:
        context = chromium.new_context(locale="de-DE",
                                       viewport={"width": width, "height": height})
        context.set_default_timeout(20_000)
        contexts.append(context)
        page = context.new_page()
        _log_in(page, web.url, "admin", ADMIN_PW)
        return page

    yield open_page
    for context in contexts:
        context.close()


SIZES = [(1280, 720), (1366, 768)]  # the laptop screens the admin's first minute is tried on


@pytest.fixture(params=SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def sized(request: pytest.FixtureRequest, admin_at: Any) -> Any:
    """The admin's page, once at each of the two small screen sizes."""
    width, height = request.param
    page = admin_at(width, height)
    page.height = height
    return page


def in_view(page: Any, locator: Any) -> bool:
    """Wholly visible in the window without scrolling (its first 120 pixels for a taller
    element): what a person sees, not only what is in the DOM."""
    box = locator.bounding_box()
    assert box is not None, locator
    height = page.viewport_size["height"]
    return bool(box["y"] >= 0 and box["y"] + min(box["height"], 120) <= height)


def open_popup(page: Any, last_name: str) -> Any:
    """The settings popup of the user with this last name, from the user list."""
    page.click("#open-users")
    page.fill("#user-search", last_name)
    page.locator("tr.opens-popup", has_text=last_name).first.dblclick()
    popup = page.locator("dialog#popup")
    popup.locator("form.section-form").first.wait_for()
    return popup


@pytest.fixture
def log_in() -> Any:
    """``log_in(page, url, "anna", "Anna-Pw-1")`` on a server the test started itself."""
    return _log_in


@pytest.fixture
def serve_falcana() -> Iterator[Any]:
    """``url = serve_falcana(data_dir, env, port)``: stopped after the test."""
    started: list[subprocess.Popen[bytes]] = []

    def start(data: Path, env: dict[str, str], port: int | None = None) -> str:
        proc, url = serve(data, env, port)
        started.append(proc)
        return url

    yield start
    for proc in started:
        proc.terminate()
        proc.wait(10)
