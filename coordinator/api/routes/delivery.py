"""How device messages arrive: dead letters, sequence gaps and presence (admins, technicians),
and `GET /metrics` for Prometheus."""

from typing import Annotated

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, func, select

from coordinator.api.crud import Resource, crud_router, equal_columns
from coordinator.api.deps import SessionDep
from coordinator.db.enums import Role
from coordinator.db.models import DeadLetter, DevicePresence, SequenceGap
from coordinator.ingest.metrics import IngestMetrics
from coordinator.schemas.delivery import (
    DeadLetterPublic,
    DevicePresencePublic,
    SequenceGapPublic,
)
from coordinator.services import presence
from protocols.ids import NAME_PATTERN

DeviceFilter = Annotated[str | None, Field(pattern=NAME_PATTERN)]


class DeadLetterFilters(BaseModel):
    pass


class GapFilters(BaseModel):
    device_id: DeviceFilter = None
    is_open: bool | None = Field(default=None, description="Only open (or only closed) gaps.")


def _gap_conditions(filters: BaseModel) -> list[ColumnElement[bool]]:
    assert isinstance(filters, GapFilters)
    conditions = equal_columns(SequenceGap)(filters.model_copy(update={"is_open": None}))
    if filters.is_open is not None:
        closed = SequenceGap.closed_at.is_(None)
        conditions.append(closed if filters.is_open else ~closed)
    return conditions


class PresenceFilters(BaseModel):
    is_online: bool | None = None


DEAD_LETTERS = Resource[DeadLetter](
    what="dead letter",
    path="/dead-letters",
    model=DeadLetter,
    public=DeadLetterPublic,
    filters=DeadLetterFilters,
    readers=(Role.ADMIN, Role.TECHNICIAN),
    order_by=lambda model: [model.id.desc()],
)
SEQUENCE_GAPS = Resource[SequenceGap](
    what="sequence gap",
    path="/sequence-gaps",
    model=SequenceGap,
    public=SequenceGapPublic,
    filters=GapFilters,
    readers=(Role.ADMIN, Role.TECHNICIAN),
    conditions=_gap_conditions,
    order_by=lambda model: [model.id.desc()],
)
PRESENCE = Resource[DevicePresence](
    what="device presence",
    path="/device-presence",
    model=DevicePresence,
    public=DevicePresencePublic,
    filters=PresenceFilters,
    readers=(Role.ADMIN, Role.TECHNICIAN),
    key=Annotated[str, Field(pattern=NAME_PATTERN)],
)

routers = [crud_router(DEAD_LETTERS), crud_router(SEQUENCE_GAPS), crud_router(PRESENCE)]

metrics_router = APIRouter()


@metrics_router.get("/metrics", include_in_schema=False)
def read_metrics(request: Request, session: SessionDep) -> Response:
    """Prometheus text format; the database gauges are refreshed on every scrape."""
    metrics: IngestMetrics = request.app.state.metrics
    metrics.devices_online.set(presence.count_online(session))
    open_gaps = select(func.count()).where(SequenceGap.closed_at.is_(None))
    metrics.open_gaps.set(session.scalar(open_gaps) or 0)
    return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)
