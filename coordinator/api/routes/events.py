"""Device messages as stored: `GET /api/v1/events`, for admins and technicians."""

from typing import Annotated

from pydantic import BaseModel, Field

from coordinator.api.crud import Resource, crud_router
from coordinator.db.enums import Role
from coordinator.db.models import Event
from coordinator.schemas.events import EventPublic
from protocols.ids import NAME_PATTERN


class EventFilters(BaseModel):
    device_id: Annotated[str | None, Field(pattern=NAME_PATTERN)] = None
    site: Annotated[str | None, Field(pattern=NAME_PATTERN)] = None
    kind: Annotated[str | None, Field(pattern=r"^[a-z_]{1,32}$")] = None


EVENTS = Resource[Event](
    what="event",
    path="/events",
    model=Event,
    public=EventPublic,
    filters=EventFilters,
    readers=(Role.ADMIN, Role.TECHNICIAN),
)

routers = [crud_router(EVENTS)]
