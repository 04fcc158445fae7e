"""Creating, changing and deleting records: scoped, validated, and audited in one place.

Every change a person makes goes through `create`, `update` or `delete` here (or calls
`record_change` itself for life-cycle actions), so none escapes the audit log.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any, Generic, TypeVar

from pydantic import BaseModel
from sqlalchemy import Select, false, func, inspect, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from coordinator.db.enums import Role
from coordinator.db.models import Base
from coordinator.errors import ConflictError, InvalidInputError, NotFoundError
from coordinator.services.audit import Actor, record_change
from coordinator.services.scope import Scope

M = TypeVar("M", bound=Base)


@dataclass(frozen=True)
class Placement(Generic[M]):
    """How a kind of record is tied to a building (managers' scope) and to a person (supervisors').

    `building_of` answers for one record (None if it is in no building); `visible` narrows a
    list query to the given buildings. `is_theirs` and `theirs`, when set, do the same for the
    supervisor a record concerns; without them supervisors see none of this kind.
    """

    building_of: Callable[[Session, M], int | None]
    visible: Callable[[Select[M], frozenset[int]], Select[M]]
    is_theirs: Callable[[Session, M, int], bool] | None = None
    theirs: Callable[[Select[M], int], Select[M]] | None = None

    def sees(self, session: Session, record: M, scope: Scope) -> bool:
        if scope.role is Role.SUPERVISOR:
            return self.is_theirs is not None and self.is_theirs(session, record, scope.user_id)
        return scope.sees_building(self.building_of(session, record))

    def narrow(self, query: Select[M], scope: Scope) -> Select[M]:
        if scope.role is Role.SUPERVISOR:
            return self.theirs(query, scope.user_id) if self.theirs else query.where(false())
        if scope.building_ids is None:
            return query
        return self.visible(query, scope.building_ids)


# Columns left out of the audit log: secrets, and biometric templates.
SECRET_COLUMNS = frozenset({"password_hash", "totp_secret", "sealed", "token_hash", "code_hash"})


def snapshot(record: Base) -> dict[str, Any]:
    """Column values of a record, for the audit log's before and after; secrets are masked."""
    values = {}
    for column in inspect(record).mapper.column_attrs:
        if column.key in SECRET_COLUMNS:
            continue
        value = getattr(record, column.key)
        if isinstance(value, bytes):
            value = f"<{len(value)} bytes>"
        elif isinstance(value, Enum):
            value = value.value
        elif isinstance(value, datetime):
            value = value.isoformat()
        values[column.key] = value
    for relation in inspect(record).mapper.relationships:
        if relation.uselist:  # e.g. a manager's buildings: kept as the ids, sorted
            values[relation.key] = sorted(
                inspect(item).identity[0] for item in getattr(record, relation.key)
            )
    return values


def given(changes: BaseModel, model: type[Base]) -> dict[str, Any]:
    """The fields a change names, refusing to empty a column that must hold a value."""
    values = changes.model_dump(exclude_unset=True)
    columns = model.__table__.columns
    for name, value in values.items():
        if value is None and name in columns and not columns[name].nullable:
            raise InvalidInputError(f"{name} cannot be emptied")
    return values


def find(
    session: Session,
    model: type[M],
    record_id: object,
    *,
    scope: Scope,
    placement: Placement[M] | None,
    what: str,
) -> M:
    """A record by id, or 'not found' when it is missing or outside the caller's buildings."""
    record = session.get(model, record_id)
    if record is None or (placement and not placement.sees(session, record, scope)):
        raise NotFoundError(f"no {what} with id {record_id}")
    return record


def page(
    session: Session,
    query: Select[M],
    *,
    scope: Scope,
    placement: Placement[M] | None,
    limit: int,
    offset: int,
) -> tuple[list[M], int]:
    if placement:
        query = placement.narrow(query, scope)
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    return list(session.scalars(query.limit(limit).offset(offset)).all()), total


def create(
    session: Session,
    record: M,
    *,
    actor: Actor,
    scope: Scope,
    placement: Placement[M] | None,
    what: str,
) -> M:
    _require_references(session, record)
    if placement:
        scope.require_building(placement.building_of(session, record), what)
    session.add(record)
    _flush(session, what)
    record_change(
        session,
        actor,
        action="create",
        entity=what,
        entity_id=_key(record),
        before=None,
        after=snapshot(record),
    )
    return record


def update(
    session: Session,
    record: M,
    changes: dict[str, Any],
    *,
    actor: Actor,
    scope: Scope,
    placement: Placement[M] | None,
    what: str,
) -> M:
    before = snapshot(record)
    # Check the new values before anything is written: an autoflush would hit the foreign key
    # first and turn a clear "room_id 4 does not exist" into a database error.
    with session.no_autoflush:
        for name, value in changes.items():
            setattr(record, name, value)
        _require_references(session, record)
        if placement:  # moving a record into another manager's building is refused like a create
            scope.require_building(placement.building_of(session, record), what)
    return _settle(session, record, before, actor=actor, what=what, action="update")


def change(
    session: Session, record: M, changes: dict[str, Any], *, actor: Actor, what: str, action: str
) -> M:
    """A life-cycle step (a new status, a review) whose rules the caller has checked; audited."""
    before = snapshot(record)
    for name, value in changes.items():
        setattr(record, name, value)
    return _settle(session, record, before, actor=actor, what=what, action=action)


def _settle(
    session: Session, record: M, before: dict[str, Any], *, actor: Actor, what: str, action: str
) -> M:
    """Write the change, and audit it if anything actually changed."""
    _flush(session, what)
    after = snapshot(record)
    if after != before:
        record_change(
            session,
            actor,
            action=action,
            entity=what,
            entity_id=_key(record),
            before=before,
            after=after,
        )
    return record


def delete(session: Session, record: Base, *, actor: Actor, what: str) -> None:
    before = snapshot(record)
    session.delete(record)
    try:
        session.flush()
    except IntegrityError:
        raise ConflictError(
            f"this {what} is still in use: remove what refers to it first"
        ) from None
    record_change(
        session,
        actor,
        action="delete",
        entity=what,
        entity_id=_key(record),
        before=before,
        after=None,
    )


def _require_references(session: Session, record: Base) -> None:
    """Name a missing referenced record clearly instead of failing on a foreign key."""
    for column in record.__table__.columns:
        value = getattr(record, column.key, None)
        for foreign_key in column.foreign_keys:
            if value is None:
                continue
            target = foreign_key.column.table
            exists = session.execute(
                select(target.c[foreign_key.column.name]).where(
                    target.c[foreign_key.column.name] == value
                )
            ).first()
            if exists is None:
                raise NotFoundError(f"{column.key} {value} does not exist")


def _flush(session: Session, what: str) -> None:
    # The database's own text names tables, constraints and values; it stays in the log.
    try:
        session.flush()
    except IntegrityError:
        raise ConflictError(
            f"this {what} clashes with one already stored: its code, email or number is taken"
        ) from None


def _key(record: Base) -> str:
    identity = inspect(record).identity
    return ",".join(str(part) for part in identity) if identity else "?"
