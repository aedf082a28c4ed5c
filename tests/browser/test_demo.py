"""The README's first command: `falcana demo` works at once, in a browser."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from falcana_core.testing.net import free_port

from .conftest import SIZES, in_view


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[tuple[str, str]]:
    port, smtp_port = free_port(), free_port()
    env = {**os.environ, "FALCANA_DATA_DIR": str(tmp_path / "demo"),
           "FALCANA_DNS_SERVERS": "127.0.0.1:9", "FALCANA_LANG": "de"}
    env.pop("FALCANA_CA_BUNDLE", None)
    proc = subprocess.Popen([sys.executable, "-m", "falcana_core", "demo", "--port", str(port),
                             "--smtp-port", str(smtp_port)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(url + "/login", timeout=1)
            break
        except OSError:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            assert time.monotonic() < deadline, "the demo did not start"
            time.sleep(0.2)
    yield url, str(tmp_path / "demo")
    proc.terminate()
    out, _ = proc.communicate(timeout=10)
    assert "admin / falcana-demo" in out


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_demo_test_mail_succeeds_at_once_and_the_sink_shows_it(
        chromium: Any, demo: tuple[str, str], size: tuple[int, int]) -> None:
    url, data = demo
    page = chromium.new_context(locale="de-DE",
                                viewport={"width": size[0], "height": size[1]}).new_page()
    page.goto(url + "/")
    hint = page.locator(".hint").inner_text()
    match = re.search(r"als (\S+) mit dem Passwort (\S+) an", hint)
    assert match, hint
    page.fill("#login", match.group(1))
    page.fill("#password", match.group(2))
    with page.expect_navigation():
        page.click("button[type=submit]")
    assert "User-Verwaltung" in page.locator(".start-here").inner_text()
    page.click("#open-users")
    page.fill("#user-search", "Müßig")
    page.locator("tr.opens-popup", has_text="Müßig").first.dblclick()
    popup = page.locator("dialog#popup")
    popup.locator("button.action[data-action='smtp.test']").click()
    popup.locator(".test-result.ok").wait_for(timeout=20_000)
    assert in_view(page, popup.locator(".test-result h4"))
    page.goto(url + "/sink/")
    rows = page.locator("table.list tbody tr")
    assert "falcana Test-e-mail" in rows.first.inner_text()
    # the date as German writes it: 03.12.26, 16:02
    assert re.match(r"\d{2}\.\d{2}\.\d{2}, \d{2}:\d{2}", rows.first.locator("a").inner_text())
    rows.first.locator("a").click()
    assert "Jürgen Müßig" in page.locator(".sink-message").inner_text()
    assert any(Path(data, "sink").glob("*.eml"))
