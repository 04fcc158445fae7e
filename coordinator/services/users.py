"""Staff accounts: their role, whether they are active, and a manager's buildings.

The rules: only managers are scoped to buildings; nobody demotes or deactivates themselves (they
could not undo it); and the last active admin stays an active admin, so the coordinator always
has someone who can manage accounts. Passwords and second factors belong to `coordinator.auth`.
The caller owns the transaction.
"""

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from coordinator.db.enums import Role
from coordinator.db.models import Building, User
from coordinator.errors import ConflictError, NotFoundError
from coordinator.schemas import people as s
from coordinator.services import records
from coordinator.services.accounts import Invitations
from coordinator.services.audit import Actor
from coordinator.services.scope import Scope

SELF_MESSAGE = "you may not change your own role or deactivate yourself: ask another admin"
LAST_ADMIN_MESSAGE = "this is the last active admin: make another admin first"
BUILDINGS_MESSAGE = "only managers are scoped to buildings: leave building_ids empty"


def find_by_email(session: Session, email: str) -> User | None:
    return session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))


def create_user(
    session: Session,
    *,
    data: s.UserCreate,
    actor: Actor,
    scope: Scope,
    invitations: Invitations,
) -> User:
    """A new staff member, sent an invite through which they set their own password."""
    user = User(
        email=data.email,
        full_name=data.full_name,
        role=data.role,
        is_active=True,
        totp_confirmed=False,
    )
    user.buildings = _buildings(session, data.role, data.building_ids)
    created = records.create(session, user, actor=actor, scope=scope, placement=None, what="user")
    invitations.send(session, user=created, actor=actor)
    return created


def update_user(
    session: Session, user: User, *, changes: s.UserUpdate, actor: Actor, scope: Scope
) -> User:
    values = records.given(changes, User)
    role = values.get("role", user.role)
    is_active = values.get("is_active", user.is_active)
    _require_keeps_admins(session, user, role=role, is_active=is_active, actor=actor)
    ids = values.pop("building_ids", None)
    if ids is not None or role is not Role.MANAGER:
        values["buildings"] = _buildings(session, role, ids if ids is not None else [])
    return records.update(
        session, user, values, actor=actor, scope=scope, placement=None, what="user"
    )


def _require_keeps_admins(
    session: Session, user: User, *, role: Role, is_active: bool, actor: Actor
) -> None:
    stays = role is user.role and is_active == user.is_active
    if stays:
        return
    if user.id == actor.user_id:
        raise ConflictError(SELF_MESSAGE, field="role")
    leaves_admins = (
        user.role is Role.ADMIN and user.is_active and not (role is Role.ADMIN and is_active)
    )
    if leaves_admins and _other_active_admins(session, user.id) == 0:
        raise ConflictError(LAST_ADMIN_MESSAGE, field="role")


def _other_active_admins(session: Session, user_id: int) -> int:
    # Lock the admins' rows so two concurrent demotions cannot each see the other as remaining.
    others = (
        select(User.id)
        .where(User.role == Role.ADMIN, User.is_active.is_(True), User.id != user_id)
        .with_for_update()
    )
    return len(list(session.scalars(others)))


def _buildings(session: Session, role: Role, building_ids: list[int]) -> list[Building]:
    if building_ids and role is not Role.MANAGER:
        raise ConflictError(BUILDINGS_MESSAGE, field="building_ids")
    found = list(session.scalars(select(Building).where(Building.id.in_(building_ids))))
    missing = set(building_ids) - {building.id for building in found}
    if missing:
        raise NotFoundError(f"building_ids {sorted(missing)} do not exist", field="building_ids")
    return found
