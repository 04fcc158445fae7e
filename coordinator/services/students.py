"""Students: who they are and whether they may sit exams; the caller owns the transaction."""

from sqlalchemy import select
from sqlalchemy.orm import Session

from coordinator.db.models import Student
from coordinator.schemas import people as s
from coordinator.services import records
from coordinator.services.audit import Actor
from coordinator.services.scope import Scope


def find_by_number(session: Session, student_number: str) -> Student | None:
    return session.scalar(select(Student).where(Student.student_number == student_number))


def create_student(
    session: Session, *, data: s.StudentCreate, actor: Actor, scope: Scope
) -> Student:
    student = Student(**data.model_dump())
    return records.create(
        session, student, actor=actor, scope=scope, placement=None, what="student"
    )


def update_student(
    session: Session, student: Student, *, changes: s.StudentUpdate, actor: Actor, scope: Scope
) -> Student:
    values = records.given(changes, Student)
    return records.update(
        session, student, values, actor=actor, scope=scope, placement=None, what="student"
    )


def remove_student(session: Session, student: Student, *, actor: Actor) -> None:
    records.delete(session, student, actor=actor, what="student")
