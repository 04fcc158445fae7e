"""Device messages as stored: `GET /api/v1/events`."""

from typing import Annotated

from fastapi import APIRouter, Query

from coordinator.api.deps import DEVICE_KEEPERS, SessionDep
from coordinator.schemas.common import MAX_ID, Page
from coordinator.schemas.events import EventPublic
from coordinator.services.events import EventFilter, list_events
from protocols.ids import NAME_PATTERN

router = APIRouter(prefix="/events", tags=["events"], dependencies=[DEVICE_KEEPERS])


@router.get("", response_model=Page[EventPublic])
def read_events(
    session: SessionDep,
    device_id: Annotated[str | None, Query(pattern=NAME_PATTERN)] = None,
    site: Annotated[str | None, Query(pattern=NAME_PATTERN)] = None,
    kind: Annotated[str | None, Query(pattern=r"^[a-z_]{1,32}$")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
) -> Page[EventPublic]:
    """Stored device messages, oldest first, filtered by device, site or kind."""
    where = EventFilter(device_id=device_id, kind=kind, site=site)
    events, total = list_events(session, where, limit=limit, offset=offset)
    return Page[EventPublic](
        items=[EventPublic.model_validate(event) for event in events],
        total=total,
        limit=limit,
        offset=offset,
    )
