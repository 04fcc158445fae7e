"""What a signed-in person may see: all buildings, some buildings, or only their own records."""

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from coordinator.db.enums import Role
from coordinator.db.models import ManagerBuilding, User
from coordinator.errors import NotFoundError


@dataclass(frozen=True)
class Scope:
    """`building_ids` None means every building (admins, technicians); managers get theirs.

    Supervisors get none: what they see is decided per record by who it belongs to (see
    `coordinator.services.records.Placement`). Which routes a role may call at all is decided by
    the route, not here.
    """

    user_id: int
    role: Role
    building_ids: frozenset[int] | None

    @property
    def is_everywhere(self) -> bool:
        return self.building_ids is None

    def sees_building(self, building_id: int | None) -> bool:
        if self.building_ids is None:
            return True
        return building_id is not None and building_id in self.building_ids

    def require_building(self, building_id: int | None, what: str) -> None:
        """Refuse as 'not found', so a manager cannot learn what other buildings hold."""
        if not self.sees_building(building_id):
            raise NotFoundError(f"no such {what}")


def scope_of(session: Session, user: User) -> Scope:
    if user.role in (Role.ADMIN, Role.TECHNICIAN):
        return Scope(user.id, user.role, None)
    if user.role is Role.MANAGER:
        rows = session.scalars(
            select(ManagerBuilding.building_id).where(ManagerBuilding.user_id == user.id)
        )
        return Scope(user.id, user.role, frozenset(rows))
    return Scope(user.id, user.role, frozenset())
