"""The first admin, made from the command line (`coordinator create-admin`)."""

from pydantic import ValidationError
from pydantic_core import ErrorDetails
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from coordinator.core.passwords import Passwords, check_policy
from coordinator.db.enums import Role
from coordinator.db.models import User
from coordinator.errors import ConflictError, CoordinatorError
from coordinator.schemas.auth import AdminCreate
from coordinator.services.audit import Actor, record_change

CLI = Actor(user_id=None, label="cli")


class InvalidAccountError(CoordinatorError, ValueError):
    """An account's details do not validate; the message names the field."""

    status_code = 422
    code = "invalid_input"


def create_admin(
    session: Session, passwords: Passwords, *, email: str, full_name: str, password: str
) -> User:
    """An active admin with a password, created from the command line and audited as `cli`."""
    try:
        account = AdminCreate(email=email, full_name=full_name)
    except ValidationError as error:
        raise InvalidAccountError("; ".join(map(_problem, error.errors()))) from None
    check_policy(password, about_the_person=(account.email, account.full_name))
    if session.scalar(select(User.id).where(func.lower(User.email) == account.email)):
        raise ConflictError(f"email: {account.email} already has an account")
    user = User(
        email=account.email,
        full_name=account.full_name,
        role=Role.ADMIN,
        password_hash=passwords.hash(password),
        is_active=True,
    )
    session.add(user)
    session.flush()
    record_change(
        session,
        CLI,
        action="create",
        entity="user",
        entity_id=user.id,
        before=None,
        after={
            "email": user.email,
            "full_name": user.full_name,
            "role": user.role.value,
            "is_active": True,
            "password_set": True,
        },
    )
    return user


def _problem(error: ErrorDetails) -> str:
    field = ".".join(map(str, error["loc"]))
    # The email pattern means nothing to a person; say what it checks.
    if error["type"] == "string_pattern_mismatch" and field == "email":
        return "email: not an email address (name@example.org)"
    return f"{field}: {error['msg']}"
