"""Server-side render times of the admin UI, in one run.

* the settings popup of one user (all three first-party plugins' sections, help, actions)
* the user list (25 rows a page) with 10,000 and 100,000 users: the first page, page 200
  and the last page as its Next button reaches them (keyset paging), a search that one
  user in eight matches (counting and sorting the matches) and one that one user matches
* a baseline: the login page (the framework's own cost), measured the same way

Prints p50 and p95 in milliseconds and each figure as a ratio to the baseline's p50
(these machines are shared and noisy: compare ratios across runs). Aim: popup p95 under
30 ms; user list pages that cost the same at 10,000 and 100,000 users.

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


def users_table(size: int, samples: int) -> dict[str, tuple[float, float]]:
    """The user list with ``size`` users: the first page, page 200 and the last page as
    the Next button reaches them (keyset), and a search."""
    from falcana_core.host import Host
    from falcana_core.models import Mailbox, User
    from falcana_core.testing import make_config
    from falcana_core.web import create_app

    with tempfile.TemporaryDirectory() as data:
        host = Host.start(make_config(Path(data), dns_servers=("127.0.0.1:9",)))
        host.users.add("admin", email="admin@example.com", role="admin", password="pw")
        add_users(host, User, Mailbox, size - 1)
        app = create_app(host, WTF_CSRF_ENABLED=False)
        client = app.test_client()
        client.post("/login", data={"login": "admin", "password": "pw"})
        total = host.users.list(limit=1)[1]
        assert total == size, total
        per_page = 25
        last = -(-size // per_page)

        def anchor(page: int) -> int:
            """The last user of the page before ``page`` (what its Next button names)."""
            rows = host.users.list(offset=(page - 2) * per_page, limit=per_page)[0]
            return rows[-1].id

        out = {
            "first page": measure(get(client, "/admin/users?page=1"), samples),
            "page 200": measure(get(client, f"/admin/users?page=200&after={anchor(200)}"),
                                samples),
            "last page": measure(get(client, f"/admin/users?page={last}&after="
                                             f"{anchor(last)}"), samples),
            # one in eight users is a "Müßig<n>": the cost of counting and sorting 12,500
            "search, 1/8 match": measure(get(client, "/admin/users?q=m%C3%BC%C3%9Fig&page=1"),
                                         samples),
            # one user, typed without umlaut, as people search: the terms' index range
            "search, one match (Schroder4321)": measure(get(
                client, "/admin/users?q=Schroeder4321&page=1"), samples),
        }
        host.close()
    return out


def add_users(host: object, User: type, Mailbox: type, count: int) -> None:
    first = ["Jürgen", "Änne", "Björn", "Zoë", "Lena", "Jonas", "Mia", "Lukas"]
    last = ["Müßig", "Schröder", "Weiß", "Öztürk", "Bauer", "Groß", "König", "Jäger"]
    for start in range(0, count, 10_000):
        with host.transaction() as s:  # type: ignore[attr-defined]
            users = [User(login=f"user{i:06d}", first_name=first[i % 8],
                          last_name=f"{last[i % 8]}{i}", email=f"user{i}@example.com")
                     for i in range(start, min(count, start + 10_000))]
            s.add_all(users)
            s.flush()
            s.add_all(Mailbox(user_id=u.id, address=u.email) for u in users)


def get(client: object, url: str) -> Callable[[], object]:
    def call() -> object:
        response = client.get(url)  # type: ignore[attr-defined]
        assert response.status_code == 200, (url, response.status_code)
        return response.data
    return call


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
        add_users(host, User, Mailbox, 9_999)
        juergen = host.users.by_login("user000000")
        assert juergen is not None
        box = host.mailboxes.personal(juergen)
        host.save_section(box, "smtp", {"email": "juergen@gmail.com", "password": "abcd efgh "
                                        "ijkl mnop", "host": "smtp.gmail.com", "port": 465,
                                        "security": "ssl"}, actor="bench")
        app = create_app(host, WTF_CSRF_ENABLED=False)
        client = app.test_client()
        client.post("/login", data={"login": "admin", "password": "pw"})
        get(client, f"/mailboxes/{box.id}/popup")()  # warm caches (templates, catalogs, MX)
        base = measure(get(client, "/login"), args.samples)
        popup = measure(get(client, f"/mailboxes/{box.id}/popup"), args.samples)
        host.close()

    print(f"{'':40} {'p50 ms':>8} {'p95 ms':>8} {'p50/baseline':>13}")
    for name, (p50, p95) in [("baseline: login page", base),
                             ("popup (3 plugins, Gmail help)", popup)]:
        print(f"{name:40} {p50:8.2f} {p95:8.2f} {p50 / base[0]:13.2f}")
    small = users_table(10_000, args.samples // 4)
    large = users_table(100_000, args.samples // 4)
    print(f"\nuser list (25 rows a page), p50 ms: {'10,000':>10} {'100,000':>10} {'ratio':>7}")
    for name in small:
        print(f"{name:34} {small[name][0]:10.2f} {large[name][0]:10.2f} "
              f"{large[name][0] / small[name][0]:7.2f}")


if __name__ == "__main__":
    main()
