"""Each person's own notifications."""

from fastapi import APIRouter

from coordinator.api.crud import Limit, Offset
from coordinator.api.deps import EVERYONE, CurrentUser, SessionDep
from coordinator.schemas.common import Id, Page
from coordinator.schemas.records import NotificationPublic
from coordinator.services import notifications

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
    found, total = notifications.page_for(
        session, user_id=user.id, unread=unread, limit=limit, offset=offset
    )
    items = [NotificationPublic.model_validate(item) for item in found]
    return Page[NotificationPublic](items=items, total=total, limit=limit, offset=offset)


@router.post("/{notification_id}/read", response_model=NotificationPublic)
def mark_read(notification_id: Id, session: SessionDep, user: CurrentUser) -> NotificationPublic:
    """Mark one of the caller's notifications as read."""
    notification = notifications.mark_read(
        session, notification_id=notification_id, user_id=user.id
    )
    session.commit()
    return NotificationPublic.model_validate(notification)
