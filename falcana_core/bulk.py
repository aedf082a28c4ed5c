"""Many rows into one table in one statement, their ids back in the order given.

On PostgreSQL through psycopg, a multi-row INSERT of a mailing costs more in the driver
than in the database: psycopg parses the statement's text for every page of rows (it caches
only statements of up to 50 parameters). There the rows go by ``COPY`` instead, their ids
taken from the table's sequence in one query first, so the ids come back in the order given
(what ``RETURNING`` alone does not promise). Every other database gets SQLAlchemy's
``insertmanyvalues`` with ``sort_by_parameter_order``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table, insert, text
from sqlalchemy.engine import Connection


def insert_rows(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> list[int]:
    """Insert ``rows`` (all with the same keys) in the caller's transaction; their ids."""
    if not rows:
        return []
    driver = conn.connection.driver_connection
    if conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg" and \
            hasattr(driver, "cursor"):
        return _copy(conn, driver, table, rows)
    statement = insert(table).returning(table.c.id, sort_by_parameter_order=True)
    return list(conn.scalars(statement, list(rows)))


def _copy(conn: Connection, driver: Any, table: Table,
          rows: Sequence[dict[str, Any]]) -> list[int]:
    ids = sorted(conn.scalars(
        text("SELECT nextval(pg_get_serial_sequence(:table, 'id')) "
             "FROM generate_series(1, :n)"), {"table": table.name, "n": len(rows)}))
    names = list(rows[0])
    # each value as SQLAlchemy would bind it (JSON serialised, enums as their value)
    processors = [table.c[name].type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
                  for name in names]
    columns = ", ".join(conn.dialect.identifier_preparer.quote(n) for n in ["id", *names])
    quoted = conn.dialect.identifier_preparer.format_table(table)
    with driver.cursor() as cursor, \
            cursor.copy(f"COPY {quoted} ({columns}) FROM STDIN") as copy:
        for row_id, row in zip(ids, rows, strict=True):
            values = (row[name] for name in names)
            copy.write_row([row_id, *(value if process is None else process(value)
                                      for process, value in
                                      zip(processors, values, strict=True))])
    return ids


def insert_if_missing(model: Any, dialect: str, key: str = "mailbox_id") -> Any:
    """INSERT of a per-mailbox row that leaves it alone when another worker created it at
    the same moment (ON CONFLICT DO NOTHING on ``key``; the dialect's module is imported
    only where it is used: start-up time). Whether it inserted: add ``.returning(...)``
    and look for a row (psycopg's rowcount of such an INSERT is -1)."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(model).on_conflict_do_nothing(index_elements=[key])
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(model).on_conflict_do_nothing(index_elements=[key])
