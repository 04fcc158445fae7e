"""Users, students and cards as the API reads and writes them."""

from datetime import datetime

from pydantic import Field, model_validator

from coordinator.db.enums import Role, StudentStatus
from coordinator.schemas.common import Email, Id, Label, Name, Public, Strict, StudentNumber


class UserCreate(Strict):
    email: Email
    full_name: Name
    role: Role
    building_ids: list[Id] = Field(
        default_factory=list, max_length=200, description="Buildings a manager is scoped to."
    )


class UserUpdate(Strict):
    full_name: Name | None = None
    role: Role | None = None
    is_active: bool | None = None
    building_ids: list[Id] | None = Field(default=None, max_length=200)


class UserPublic(Public):
    id: int
    email: str
    full_name: str
    role: Role
    is_active: bool
    totp_confirmed: bool
    created_at: datetime
    building_ids: list[int]


class StudentCreate(Strict):
    student_number: StudentNumber
    full_name: Name
    status: StudentStatus = StudentStatus.ACTIVE


class StudentUpdate(Strict):
    full_name: Name | None = None
    status: StudentStatus | None = None


class StudentPublic(Public):
    id: int
    student_number: str
    full_name: str
    status: StudentStatus


class CardCreate(Strict):
    """A card to link; its UID is hashed with a key on arrival and never stored or shown."""

    uid: str = Field(pattern=r"^[0-9A-Fa-f: ]{4,64}$", description="Card UID as read, in hex.")
    user_id: Id | None = None
    student_id: Id | None = None
    label: Label | None = None

    @model_validator(mode="after")
    def _one_owner(self) -> "CardCreate":
        if (self.user_id is None) == (self.student_id is None):
            raise ValueError("a card belongs to exactly one of user_id or student_id")
        return self


class CardUpdate(Strict):
    label: Label | None = None
    is_active: bool | None = None


class CardPublic(Public):
    id: int
    user_id: Id | None
    student_id: Id | None
    label: str | None
    is_active: bool
    created_at: datetime
