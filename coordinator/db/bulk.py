"""Writes of many rows at once, on either of our databases (PostgreSQL, or SQLite for the demo).

The ingest writes a batch of hundreds of device messages per commit, so it cannot afford a
statement, or the ORM's bookkeeping, per row. On PostgreSQL a batch travels as one JSON document
through one short statement the driver prepares once; SQLite runs the same statement per row.
"""

from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

from pydantic_core import to_json
from sqlalchemy import Table, TextClause, bindparam, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

Row = Mapping[str, Any]  # column name → value (UUIDs, aware datetimes, dicts, pydantic models)


def is_postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def insert_or_skip(
    session: Session, model: type[Any], key: list[str]
) -> postgresql.Insert | sqlite.Insert:
    """An INSERT that skips rows whose `key` is already stored (ON CONFLICT DO NOTHING)."""
    if is_postgresql(session):
        return postgresql.insert(model).on_conflict_do_nothing(index_elements=key)
    return sqlite.insert(model).on_conflict_do_nothing(index_elements=key)


def as_json(rows: Sequence[Row]) -> str:
    """Rows as one JSON array, for PostgreSQL's `json_to_recordset` (times keep their zone)."""
    return to_json(rows).decode()


def update_by_key(
    session: Session, table: Table, key: tuple[str, ...], rows: Sequence[Row]
) -> None:
    """Set the columns each row names (all rows name the same ones) on the row with its `key`."""
    if not rows:
        return
    columns = tuple(rows[0])
    if is_postgresql(session):
        session.execute(_json_update(table, key, columns), {"rows": as_json(rows)})
        return
    statement = (
        update(table)
        .where(*(table.c[name] == bindparam(f"key_{name}") for name in key))
        .values({name: bindparam(name) for name in columns if name not in key})
    )
    session.execute(statement, [dict(row) | {f"key_{k}": row[k] for k in key} for row in rows])


@cache
def _json_update(table: Table, key: tuple[str, ...], columns: tuple[str, ...]) -> TextClause:
    """UPDATE ... FROM json_to_recordset: one statement for the batch, typed by the table."""
    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    record = ", ".join(f"{name} {table.c[name].type.compile(dialect)}" for name in columns)
    assignments = ", ".join(f"{name} = batch.{name}" for name in columns if name not in key)
    match = " AND ".join(f"target.{name} = batch.{name}" for name in key)
    return text(
        f"UPDATE {table.name} AS target SET {assignments}"  # noqa: S608 (names from our metadata)
        f" FROM json_to_recordset(CAST(:rows AS json)) AS batch({record}) WHERE {match}"
    )
