"""Users (staff), students and their cards."""

from typing import Any

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from coordinator.api.crud import Resource, crud_router
from coordinator.core.config import Settings
from coordinator.core.keys import card_uid_hash
from coordinator.db.enums import Role, StudentStatus
from coordinator.db.models import Building, CardCredential, Student, User
from coordinator.errors import ConflictError, NotFoundError
from coordinator.schemas import people as s
from coordinator.schemas.common import Id

A, M = Role.ADMIN, Role.MANAGER


class UserFilters(BaseModel):
    role: Role | None = None
    is_active: bool | None = None
    email: str | None = None


class StudentFilters(BaseModel):
    status: StudentStatus | None = None
    student_number: str | None = None


class CardFilters(BaseModel):
    user_id: Id | None = None
    student_id: Id | None = None
    is_active: bool | None = None


def _buildings(session: Session, role: Role, building_ids: list[int]) -> list[Building]:
    if building_ids and role is not Role.MANAGER:
        raise ConflictError("only managers are scoped to buildings: leave building_ids empty")
    found = list(session.scalars(select(Building).where(Building.id.in_(building_ids))))
    missing = set(building_ids) - {building.id for building in found}
    if missing:
        raise NotFoundError(f"building_ids {sorted(missing)} do not exist")
    return found


def build_user(session: Session, body: BaseModel, settings: Settings) -> User:
    assert isinstance(body, s.UserCreate)
    user = User(
        email=body.email,
        full_name=body.full_name,
        role=body.role,
        is_active=True,
        totp_confirmed=False,
    )
    user.buildings = _buildings(session, body.role, body.building_ids)
    return user


def change_user(session: Session, user: User, changes: dict[str, Any]) -> dict[str, Any]:
    role = changes.get("role", user.role)
    ids = changes.pop("building_ids", None)
    if ids is not None or role is not Role.MANAGER:
        changes["buildings"] = _buildings(session, role, ids if ids is not None else [])
    return changes


def build_card(session: Session, body: BaseModel, settings: Settings) -> CardCredential:
    assert isinstance(body, s.CardCreate)
    uid_hash = card_uid_hash(settings.secret_key, body.uid)
    return CardCredential(
        uid_hash=uid_hash,
        user_id=body.user_id,
        student_id=body.student_id,
        label=body.label,
        is_active=True,
    )


RESOURCES: list[Resource[Any]] = [
    Resource(
        what="user",
        path="/users",
        model=User,
        public=s.UserPublic,
        filters=UserFilters,
        readers=(A, M),
        writers=(A,),
        create=s.UserCreate,
        update=s.UserUpdate,
        build=build_user,
        changes=change_user,
    ),
    Resource(
        what="student",
        path="/students",
        model=Student,
        public=s.StudentPublic,
        filters=StudentFilters,
        readers=(A, M),
        writers=(A, M),
        create=s.StudentCreate,
        update=s.StudentUpdate,
        deletable=True,
    ),
    Resource(
        what="card",
        path="/cards",
        model=CardCredential,
        public=s.CardPublic,
        filters=CardFilters,
        readers=(A,),
        writers=(A,),
        create=s.CardCreate,
        update=s.CardUpdate,
        deletable=True,
        build=build_card,
    ),
]

routers = [crud_router(resource) for resource in RESOURCES]
