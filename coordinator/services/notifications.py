"""Each person's own notifications: listed newest first, marked read once."""

from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from coordinator.db.models import Notification
from coordinator.errors import NotFoundError


def page_for(
    session: Session, *, user_id: int, unread: bool, limit: int, offset: int
) -> tuple[list[Notification], int]:
    query = select(Notification).where(Notification.user_id == user_id)
    if unread:
        query = query.where(Notification.read_at.is_(None))
    query = query.order_by(Notification.created_at.desc(), Notification.id.desc())
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    return list(session.scalars(query.limit(limit).offset(offset))), total or 0


def mark_read(
    session: Session, *, notification_id: int, user_id: int, now: datetime | None = None
) -> Notification:
    """Reading is not audited: no data a person cares about changes. Keeps the first time."""
    notification = session.get(Notification, notification_id)
    if notification is None or notification.user_id != user_id:
        raise NotFoundError(f"no notification with id {notification_id}")
    notification.read_at = notification.read_at or now or datetime.now(UTC)
    session.flush()
    return notification
