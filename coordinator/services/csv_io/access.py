"""Who may move which kind of record in or out by CSV, and who a command-line import acts as."""

from sqlalchemy.orm import Session

from coordinator.db.enums import Role
from coordinator.errors import ForbiddenError
from coordinator.schemas.csv_io import CsvKind
from coordinator.services.audit import Actor
from coordinator.services.scope import Scope, scope_of
from coordinator.services.users import find_by_email

# People are not tied to a building, so a manager's scope cannot bound them: admins only.
ADMIN_ONLY_KINDS = frozenset({CsvKind.USERS, CsvKind.STUDENTS})


def require_kind(scope: Scope, kind: CsvKind) -> None:
    """Refuse callers who may not move this kind of record in or out."""
    if scope.role not in (Role.ADMIN, Role.MANAGER):
        raise ForbiddenError(f"a {scope.role.value} may not import or export CSV")
    if kind in ADMIN_ONLY_KINDS and not scope.is_everywhere:
        raise ForbiddenError(f"only admins import or export {kind.value}")


def admin_actor(session: Session, email: str, address: str) -> tuple[Actor, Scope]:
    """The active admin named by `email`, as the audited actor of a command-line import."""
    user = find_by_email(session, email)
    if user is None or not user.is_active or user.role is not Role.ADMIN:
        raise ForbiddenError(f"{email} is not an active admin: name one with --as")
    return Actor(user.id, user.email, address), scope_of(session, user)
