"""Server-side render times of the admin UI, in one run.

* the settings popup of one user (all three first-party plugins' sections, help, actions)
* one page of the user list (25 rows) with 10,000 users, without and with a search
* a baseline: the login page (the framework's own cost), measured the same way

Prints p50 and p95 in milliseconds and each figure as a ratio to the baseline's p50
(these machines are shared and noisy: compare ratios across runs). Aim: popup p95 under
30 ms, user page under 150 ms.

    uv run python benchmarks/ui.py [--samples 200]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path


def measure(fn: Callable[[], object], samples: int) -> tuple[float, float]:
    times = []
    for _ in range(samples):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.95) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=200)
    args = parser.parse_args()
    from falcana_core.host import Host
    from falcana_core.models import Mailbox, User
    from falcana_core.testing import make_config
    from falcana_core.web import create_app

    with tempfile.TemporaryDirectory() as data:
        host = Host.start(make_config(Path(data), dns_servers=("127.0.0.1:9",)))
        host.users.add("admin", email="admin@example.com", role="admin", password="pw")
        first = ["Jürgen", "Änne", "Björn", "Zoë", "Lena", "Jonas", "Mia", "Lukas"]
        last = ["Müßig", "Schröder", "Weiß", "Öztürk", "Bauer", "Groß", "König", "Jäger"]
        with host.transaction() as s:
            users = [User(login=f"user{i:05d}", first_name=first[i % 8],
                          last_name=f"{last[i % 8]}{i}", email=f"user{i}@example.com")
                     for i in range(9_999)]
            s.add_all(users)
            s.flush()
            s.add_all(Mailbox(user_id=u.id, address=u.email) for u in users)
        juergen = host.users.by_login("user00000")
        assert juergen is not None
        box = host.mailboxes.personal(juergen)
        host.save_section(box, "smtp", {"email": "juergen@gmail.com", "password": "abcd efgh "
                                        "ijkl mnop", "host": "smtp.gmail.com", "port": 465,
                                        "security": "ssl"}, actor="bench")
        app = create_app(host, WTF_CSRF_ENABLED=False)
        client = app.test_client()
        client.post("/login", data={"login": "admin", "password": "pw"})
        total = host.users.list(limit=1)[1]
        assert total == 10_000, total

        def get(url: str) -> Callable[[], object]:
            def call() -> object:
                response = client.get(url)
                assert response.status_code == 200, (url, response.status_code)
                return response.data
            return call

        get(f"/mailboxes/{box.id}/popup")()  # warm caches (templates, catalogs, MX)
        base = measure(get("/login"), args.samples)
        popup = measure(get(f"/mailboxes/{box.id}/popup"), args.samples)
        page = measure(get("/admin/users?page=200"), args.samples // 2)
        search = measure(get("/admin/users?q=m%C3%BC%C3%9Fig&page=3"), args.samples // 2)
        host.close()

    print(f"{'':40} {'p50 ms':>8} {'p95 ms':>8} {'p50/baseline':>13}")
    for name, (p50, p95) in [("baseline: login page", base),
                             ("popup (3 plugins, Gmail help)", popup),
                             ("user list page, 10,000 users", page),
                             ("user list page with search", search)]:
        print(f"{name:40} {p50:8.2f} {p95:8.2f} {p50 / base[0]:13.2f}")


if __name__ == "__main__":
    main()
