"""`GET /api/v1/health`: is the coordinator answering, with its database and broker?"""

from typing import Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel
from sqlalchemy import text

from coordinator import __version__
from coordinator.api.deps import SessionDep

router = APIRouter(tags=["health"])


class HealthPublic(BaseModel):
    version: str
    database: Literal["ok"]
    ingest: Literal["connected", "disconnected", "failed", "disabled"]


@router.get("/health", response_model=HealthPublic)
def read_health(request: Request, session: SessionDep) -> HealthPublic:
    session.execute(text("SELECT 1"))
    worker = request.app.state.ingest
    return HealthPublic(
        version=__version__, database="ok", ingest="disabled" if worker is None else worker.state
    )
