"""Writes of many rows at once, on either of our databases (PostgreSQL, or SQLite for the demo).

The ingest writes a batch of hundreds of device messages per commit, so it cannot afford a
statement, or the ORM's bookkeeping, per row. On PostgreSQL a batch travels as one JSON document
through one short statement the driver prepares once; SQLite runs the same statement per row.
"""

from collections.abc import Callable, Mapping, Sequence
from functools import cache
from typing import Any

from pydantic_core import to_json
from sqlalchemy import (
    ColumnElement,
    Table,
    TextClause,
    bindparam,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

Row = Mapping[str, Any]  # column name → value (UUIDs, aware datetimes, dicts, pydantic models)
Key = tuple[Any, ...]  # the values of a row's key columns, in order


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


def lock_rows(
    session: Session,
    model: type[Any],
    key: tuple[str, ...],
    keys: Sequence[Key],
    new: Callable[[Key], Row],
) -> dict[Key, Row]:
    """Each key's row, locked for this transaction in key order (so that workers sharing rows
    cannot deadlock); a missing one is inserted first as `new(key)`. Several workers may meet
    a new key at once: the insert skips a conflict, and the row is locked like the others."""
    rows = _select_for_update(session, _table(model), key, keys)
    missing = [k for k in keys if k not in rows]
    if missing:
        session.execute(insert_or_skip(session, model, list(key)), [new(k) for k in missing])
        rows |= _select_for_update(session, _table(model), key, missing)
    return rows


def _select_for_update(
    session: Session, table: Table, key: tuple[str, ...], keys: Sequence[Key]
) -> dict[Key, Row]:
    columns = [table.c[name] for name in key]
    matching: ColumnElement[bool] = (
        columns[0].in_([k[0] for k in keys]) if len(columns) == 1 else tuple_(*columns).in_(keys)
    )
    query = select(table).where(matching).order_by(*columns).with_for_update()
    rows = [dict(row._mapping) for row in session.execute(query)]
    return {tuple(row[name] for name in key): row for row in rows}


def update_by_key(
    session: Session, model: type[Any], key: tuple[str, ...], rows: Sequence[Row]
) -> None:
    """Set the columns each row names (all rows name the same ones) on the row with its `key`."""
    if not rows:
        return
    table = _table(model)
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


def _table(model: type[Any]) -> Table:
    return model.metadata.tables[model.__tablename__]  # type: ignore[no-any-return]


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
