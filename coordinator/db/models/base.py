"""Shared column types, the declarative base and its naming convention."""

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    DateTime,
    Enum,
    MetaData,
)
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator


class UtcDateTime(TypeDecorator[datetime]):
    """Stores UTC, returns aware UTC datetimes on every backend (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored: give a time zone")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def wire_enum(enum: type[StrEnum]) -> Enum:
    """A vocabulary of the wire (`protocols`), which grows with the devices: VARCHAR(64), no CHECK.

    The protocol refuses unknown values before anything is stored, so a CHECK constraint would
    only make every new reason code a migration, and a newer device's valid event unstorable.
    """
    return Enum(
        enum,
        native_enum=False,
        create_constraint=False,
        length=64,
        values_callable=lambda members: [member.value for member in members],
        name=enum.__name__.lower(),
        validate_strings=True,
    )


def str_enum(enum: type[StrEnum]) -> Enum:
    """A portable enum column: VARCHAR plus a CHECK constraint, storing the values."""
    return Enum(
        enum,
        native_enum=False,
        create_constraint=True,
        length=max(len(member.value) for member in enum),
        values_callable=lambda members: [member.value for member in members],
        name=enum.__name__.lower(),
        validate_strings=True,
    )


class Base(DeclarativeBase):
    # Deterministic constraint names, so migrations can drop what they created on both backends.
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(table_name)s_%(column_0_name)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


def utc_now() -> datetime:
    return datetime.now(UTC)
