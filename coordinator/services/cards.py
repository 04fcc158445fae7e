"""Cards linked to a staff member or a student; a UID is stored only as a keyed hash."""

from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.orm import Session

from coordinator.core.keys import card_uid_hash
from coordinator.db.models import CardCredential
from coordinator.schemas import people as s
from coordinator.services import records
from coordinator.services.audit import Actor
from coordinator.services.scope import Scope


def link_card(
    session: Session, *, data: s.CardCreate, secret: SecretStr, actor: Actor, scope: Scope
) -> CardCredential:
    card = CardCredential(
        uid_hash=card_uid_hash(secret, data.uid),
        user_id=data.user_id,
        student_id=data.student_id,
        label=data.label,
        is_active=True,
    )
    return records.create(session, card, actor=actor, scope=scope, placement=None, what="card")


def find_by_uid(session: Session, *, uid: str, secret: SecretStr) -> CardCredential | None:
    """The active card a reader saw, for the device path."""
    return session.scalar(
        select(CardCredential).where(
            CardCredential.uid_hash == card_uid_hash(secret, uid),
            CardCredential.is_active.is_(True),
        )
    )


def update_card(
    session: Session, card: CardCredential, *, changes: s.CardUpdate, actor: Actor, scope: Scope
) -> CardCredential:
    values = records.given(changes, CardCredential)
    return records.update(
        session, card, values, actor=actor, scope=scope, placement=None, what="card"
    )


def unlink_card(session: Session, card: CardCredential, *, actor: Actor) -> None:
    records.delete(session, card, actor=actor, what="card")
