"""Each person's own notifications."""

from datetime import UTC, datetime

from fastapi import APIRouter
from sqlalchemy import select

from coordinator.api.crud import Limit, Offset
from coordinator.api.deps import EVERYONE, CurrentUser, SessionDep
from coordinator.db.models import Notification
from coordinator.errors import NotFoundError
from coordinator.schemas.common import Id, Page
from coordinator.schemas.records import NotificationPublic
from coordinator.services.records import page
from coordinator.services.scope import Scope

router = APIRouter(prefix="/notifications", tags=["notifications"], dependencies=[EVERYONE])


@router.get("", response_model=Page[NotificationPublic])
def list_notifications(
    session: SessionDep,
    user: CurrentUser,
    unread: bool = False,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Page[NotificationPublic]:
    """The caller's notifications, newest first."""
    query = select(Notification).where(Notification.user_id == user.id)
    if unread:
        query = query.where(Notification.read_at.is_(None))
    query = query.order_by(Notification.created_at.desc(), Notification.id.desc())
    found, total = page(
        session,
        query,
        scope=Scope(user.id, user.role, None),
        placement=None,
        limit=limit,
        offset=offset,
    )
    items = [NotificationPublic.model_validate(item) for item in found]
    return Page[NotificationPublic](items=items, total=total, limit=limit, offset=offset)


@router.post("/{notification_id}/read", response_model=NotificationPublic)
def mark_read(notification_id: Id, session: SessionDep, user: CurrentUser) -> NotificationPublic:
    """Mark one of the caller's notifications as read (reading is not audited: no data changes)."""
    notification = session.get(Notification, notification_id)
    if notification is None or notification.user_id != user.id:
        raise NotFoundError(f"no notification with id {notification_id}")
    notification.read_at = notification.read_at or datetime.now(UTC)
    session.commit()
    return NotificationPublic.model_validate(notification)
