"""Users (staff), students and their cards."""

from typing import Any

from coordinator.api.crud import Filters, Resource, creating, crud_router, removing, updating
from coordinator.db.enums import Role, StudentStatus
from coordinator.db.models import CardCredential, Student, User, utc_now
from coordinator.schemas import people as s
from coordinator.schemas.common import Email, Id, StudentNumber
from coordinator.services import cards, students, users
from coordinator.services.accounts import Invitations

A, M = Role.ADMIN, Role.MANAGER


class UserFilters(Filters):
    role: Role | None = None
    is_active: bool | None = None
    email: Email | None = None


class StudentFilters(Filters):
    status: StudentStatus | None = None
    student_number: StudentNumber | None = None


class CardFilters(Filters):
    user_id: Id | None = None
    student_id: Id | None = None
    is_active: bool | None = None


RESOURCES: list[Resource[Any]] = [
    Resource[User](
        what="user",
        path="/users",
        model=User,
        public=s.UserPublic,
        filters=UserFilters,
        readers=(A, M),
        writers=(A,),
        create_body=s.UserCreate,
        create=lambda db, body, caller: users.create_user(
            db,
            data=body,
            actor=caller.actor,
            scope=caller.scope,
            invitations=Invitations(caller.settings, utc_now()),
        ),
        update_body=s.UserUpdate,
        update=updating(users.update_user),
    ),
    Resource[Student](
        what="student",
        path="/students",
        model=Student,
        public=s.StudentPublic,
        filters=StudentFilters,
        readers=(A, M),
        writers=(A, M),
        create_body=s.StudentCreate,
        create=creating(students.create_student),
        update_body=s.StudentUpdate,
        update=updating(students.update_student),
        remove=removing(students.remove_student),
    ),
    Resource[CardCredential](
        what="card",
        path="/cards",
        model=CardCredential,
        public=s.CardPublic,
        filters=CardFilters,
        readers=(A,),
        writers=(A,),
        create_body=s.CardCreate,
        create=lambda db, body, caller: cards.link_card(
            db,
            data=body,
            secret=caller.settings.secret_key,
            actor=caller.actor,
            scope=caller.scope,
        ),
        update_body=s.CardUpdate,
        update=updating(cards.update_card),
        remove=removing(cards.unlink_card),
    ),
]

routers = [crud_router(resource) for resource in RESOURCES]
