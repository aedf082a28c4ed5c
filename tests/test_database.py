"""The database where it matters: migrations, users and mailboxes on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from falcana_core.host import Host
from falcana_core.models import Base
from falcana_core.testing import make_config
from falcana_core.users import InputError


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'data' / 'falcana.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def host(database_url: str, tmp_path: Path) -> Iterator[Host]:
    h = Host.start(make_config(tmp_path / "data", database_url=database_url))
    yield h
    h.close()


def test_each_plugin_has_its_own_version_table(host: Host) -> None:
    tables = set(inspect(host.engine).get_table_names())
    assert {"alembic_version_core", "alembic_version_smtp_settings"} <= tables
    with host.engine.connect() as conn:
        assert conn.scalar(text("select version_num from alembic_version_core")) == "core_0011"
        assert conn.scalar(text("select version_num from alembic_version_smtp_settings")
                           ) == "smtp_0004"


def test_migrations_create_exactly_what_the_models_describe(host: Host) -> None:
    import falcana_smtp_settings.models  # noqa: F401  (its tables are part of Base)

    with host.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = [d for d in compare_metadata(ctx, Base.metadata)
                if not (d[0] == "remove_table" and d[1].name.startswith("alembic_version"))]
    assert diff == []


def test_upgrading_twice_is_harmless(host: Host, database_url: str, tmp_path: Path) -> None:
    again = Host.start(make_config(tmp_path / "data", database_url=database_url))
    assert again.plugins.get("smtp_settings") is not None
    again.close()


def test_users_and_personal_mailboxes(host: Host) -> None:
    anna = host.users.add("anna", first_name="Anna", last_name="Größe",
                          email="Anna.Groesse@Example.com", external_id="crm-17", actor="t")
    assert anna.email == "Anna.Groesse@example.com"  # the domain is normalised
    assert host.users.by_external_id("crm-17").id == anna.id  # type: ignore[union-attr]
    box = host.mailboxes.personal(anna)
    assert box.address == anna.email and box.sender_name == "Anna Größe"
    assert host.mailboxes.personal(anna).id == box.id  # one personal mailbox per user
    host.users.rename("anna", first_name="Anna", last_name="Klein", actor="t")
    assert host.mailboxes.get(box.id).sender_name == "Anna Klein"  # type: ignore[union-attr]
    with pytest.raises(InputError) as dup:
        host.users.add("anna", email="x@example.com")
    assert dup.value.field == "login"
    with pytest.raises(InputError) as bad:
        host.users.add("bert", email="not an address")
    assert bad.value.field == "email"
    assert host.users.by_login("bert") is None  # nothing half-saved


def test_login_passwords_are_hashed(host: Host) -> None:
    host.users.add("carla", password="Login-Passwort-1", role="admin")
    with host.engine.connect() as conn:
        stored = conn.scalar(text("select password_hash from users where login = 'carla'"))
    assert stored.startswith("$argon2") and "Login-Passwort-1" not in stored
    assert host.users.authenticate("carla", "Login-Passwort-1") is not None
    assert host.users.authenticate("carla", "wrong") is None
    assert host.users.authenticate("nobody", "x") is None


def test_user_list_search_and_paging(host: Host) -> None:
    for i in range(30):
        host.users.add(f"user{i:02d}", first_name="Max", last_name=f"Muster{i:02d}")
    host.users.add("zoe", first_name="Zoë", last_name="Äpfel")
    page, total = host.users.list(offset=10, limit=10)
    assert total == 31 and len(page) == 10
    found, count = host.users.list("äpf")
    assert count == 1 and found[0].login == "zoe"


def test_paging_by_key_walks_the_same_pages_as_counting(host: Host) -> None:
    """Next and Previous by the neighbouring user give exactly the pages that counting
    from the start gives, also where names repeat (the login breaks ties)."""
    for i in range(23):
        host.users.add(f"u{i:02d}", first_name=["Max", "Anna"][i % 2],
                       last_name=["Schulz", "Meyer", "Özdemir"][i % 3])
    by_offset = [[u.login for u in host.users.list(offset=o, limit=5)[0]]
                 for o in range(0, 23, 5)]
    forward, page = [], host.users.list(limit=5)[0]
    while page:
        forward.append([u.login for u in page])
        page = host.users.list(limit=5, after=page[-1].id)[0]
    assert forward == by_offset
    backward, page = [], host.users.list(offset=20, limit=5)[0]
    while page:
        backward.insert(0, [u.login for u in page])
        page = host.users.list(limit=5, before=page[0].id)[0]
    assert backward == by_offset


def test_shared_mailboxes(host: Host) -> None:
    box = host.mailboxes.create_shared("info@example.com", "Info-Team", actor="admin")
    assert host.mailboxes.resolve("info@example.com").id == box.id  # type: ignore[union-attr]
    with pytest.raises(InputError):
        host.mailboxes.create_shared("info@example.com", actor="admin")


def test_the_data_directory_and_database_files_are_private(tmp_path: Path) -> None:
    import stat

    data = tmp_path / "data"
    data.mkdir(mode=0o755)  # found with the usual umask: tightened
    host = Host.start(make_config(data))
    host.users.add("anna", email="anna@example.com", password="pw-1")  # the WAL gets written
    mode = {p.name: stat.S_IMODE(p.stat().st_mode) for p in data.iterdir()}
    host.close()
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    assert mode["falcana.db"] == 0o600 and mode["secret.key"] == 0o600
    assert all(m == 0o600 for name, m in mode.items() if name.startswith("falcana.db"))


def test_a_busy_database_is_one_line_without_sql(tmp_path: Path) -> None:
    import os
    import sqlite3
    import subprocess
    import sys

    data = tmp_path / "data"
    Host.start(make_config(data)).close()
    lock = sqlite3.connect(data / "falcana.db")
    lock.execute("BEGIN EXCLUSIVE")
    try:
        env = {**os.environ, "FALCANA_DATA_DIR": str(data), "FALCANA_LANG": "en",
               "FALCANA_SQLITE_BUSY_TIMEOUT": "0.3"}
        done = subprocess.run([sys.executable, "-m", "falcana_core", "users", "add", "bert",
                               "--email", "bert@example.com"], env=env, capture_output=True,
                              text=True, timeout=60)
    finally:
        lock.rollback()
        lock.close()
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "busy" in lines[0], done.stderr
    assert "INSERT" not in done.stderr and "SELECT" not in done.stderr
    assert "Traceback" not in done.stderr


def test_the_quick_up_to_date_check_agrees_with_alembic(tmp_path: Path) -> None:
    """Start-up skips Alembic when every version table holds its head; the heads it reads
    from the files' text are Alembic's own, and one stale version table sends it back."""
    from alembic.script import ScriptDirectory
    from sqlalchemy import update
    from sqlalchemy.sql import column, table

    from falcana_core.migrate import _heads, up_to_date, version_table

    host = Host.start(make_config(tmp_path / "data"))
    folders = [(name, Path(path)) for name, path in host.plugins.resources("migrations")
               if (Path(path) / "env.py").is_file()]
    assert {name for name, _p in folders} >= {"core", "smtp_settings", "oauth", "sent_copy"}
    for _name, path in folders:
        assert _heads(path) == set(ScriptDirectory(str(path)).get_heads())
    assert up_to_date(host.engine, folders)
    with host.engine.begin() as conn:
        conn.execute(update(table(version_table("smtp_settings"), column("version_num")))
                     .values(version_num="smtp_0002"))
    assert not up_to_date(host.engine, folders)
    host.close()


def _core_migration(host: Host, target: str, direction: str) -> None:
    from alembic import command
    from alembic.config import Config

    from falcana_core.migrate import version_table

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent.parent / "falcana_core"
                                               / "migrations"))
    with host.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        cfg.attributes["version_table"] = version_table("core")
        getattr(command, direction)(cfg, target)


def test_the_copy_in_sent_columns_become_steps_after_delivery_and_back(host: Host) -> None:
    """core_0009 moves each message's copy in Sent (pending, filed, failed) into a step
    after delivery of the duty "sent_copy", and its downgrade puts it back."""
    user = host.users.add("anna", first_name="Anna", last_name="Berg", email="a@firma.de")
    box = host.mailboxes.personal(user)
    _core_migration(host, "core_0008", "downgrade")
    with host.engine.begin() as conn:
        for i, state in enumerate(("pending", "filed", "failed", None)):
            conn.execute(text(
                "INSERT INTO outbox_messages (id, mailbox_id, status, message_id, sender, "
                "smtputf8, subject, recipients, content, created_at, next_attempt_at, "
                "attempts, sent_at, copy_status, copy_attempts, copy_next_at, copy_error) "
                "VALUES (:id, :box, 'sent', :mid, 'a@firma.de', false, 's', '{}', :content, "
                "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 1, CURRENT_TIMESTAMP, :state, :n, "
                "CURRENT_TIMESTAMP, NULL)"),
                {"id": i + 1, "box": box.id, "mid": f"<{i}@x>", "content": b"x",
                 "state": state, "n": i})
    _core_migration(host, "head", "upgrade")
    steps = {m.id: (s.duty, s.status, s.attempts) if (s := m.after_delivery("sent_copy"))
             else None for m in host.outbox.list(limit=10)}
    assert steps == {1: ("sent_copy", "pending", 0), 2: ("sent_copy", "done", 1),
                     3: ("sent_copy", "failed", 2), 4: None}
    _core_migration(host, "core_0008", "downgrade")
    with host.engine.connect() as conn:
        back = dict(conn.execute(text("SELECT id, copy_status FROM outbox_messages")).all())
    assert back == {1: "pending", 2: "filed", 3: "failed", 4: None}
    _core_migration(host, "head", "upgrade")


def test_a_user_is_found_as_people_type_the_name(host: Host) -> None:
    host.users.add("juergen", first_name="Jürgen", last_name="Müßig",
                   email="juergen@example.com")
    host.users.add("anna", first_name="Anna", last_name="Müller")
    host.users.add("weiss", first_name="Björn", last_name="Weiß")
    for typed in ("Muessig", "Mussig", "müßig", "MÜSSIG", "jurgen", "Jürgen", "JÜRGEN",
                  "juergen", "Müßig, Jürgen", "jür mü"):
        found, count = host.users.list(typed)
        assert [u.login for u in found] == ["juergen"] and count == 1, typed
    assert [u.login for u in host.users.list("weiss")[0]] == ["weiss"]
    assert [u.login for u in host.users.list("bjorn")[0]] == ["weiss"]
    assert host.users.list("Müßig Anna")[1] == 0  # every word must match
    assert host.users.list("muller")[1] == 1
    host.users.rename("anna", first_name="Anna", last_name="Schröder", actor="admin")
    assert host.users.list("müller")[1] == 0 and host.users.list("schroder")[1] == 1


def test_the_search_reads_an_index(host: Host) -> None:
    """The plan of a search names the terms' index, not a scan of every user."""
    from sqlalchemy import text as sql

    host.users.add("juergen", first_name="Jürgen", last_name="Müßig")
    with host.engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            plan = " ".join(str(r[-1]) for r in conn.execute(sql(
                "EXPLAIN QUERY PLAN SELECT user_id FROM user_search_terms "
                "WHERE term BETWEEN 'muessig' AND 'muessig\U0010ffff'")))
            assert "ix_user_search_terms_term" in plan or "PRIMARY KEY" in plan, plan
        else:
            conn.execute(sql("SET enable_seqscan = off"))
            plan = " ".join(r[0] for r in conn.execute(sql(
                "EXPLAIN SELECT user_id FROM user_search_terms "
                "WHERE term BETWEEN 'muessig' AND 'muessig\U0010ffff'")))
            assert "Index" in plan, plan
