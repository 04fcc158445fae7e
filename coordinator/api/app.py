"""The FastAPI application factory: engine, sessions and the ingest worker live in its lifespan."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from coordinator import __version__
from coordinator.api.errors import ERROR_RESPONSES, install_error_handlers
from coordinator.api.hygiene import BodySizeLimit, SecurityHeaders
from coordinator.api.routes import (
    accounts,
    assignments,
    auth,
    csv_io,
    events,
    exams,
    faces,
    health,
    notifications,
    people,
    places,
    records,
    violations,
)
from coordinator.core.config import Settings
from coordinator.db.migrate import require_current
from coordinator.db.session import make_engine, make_sessionmaker
from coordinator.ingest.worker import IngestWorker

API_PREFIX = "/api/v1"


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings.database_url)
        require_current(engine)
        app.state.sessions = make_sessionmaker(engine)
        app.state.settings = settings
        app.state.ingest = (
            IngestWorker(settings, app.state.sessions) if settings.mqtt_enabled else None
        )
        if app.state.ingest:
            app.state.ingest.start()
        try:
            yield
        finally:
            if app.state.ingest:
                app.state.ingest.stop()
            engine.dispose()

    app = FastAPI(
        title="Campus coordinator",
        version=__version__,
        lifespan=lifespan,
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url="/docs",
        responses=ERROR_RESPONSES,
    )
    install_error_handlers(app)
    _install_middleware(app, settings)
    for router in (
        auth.router,
        accounts.router,
        csv_io.router,
        health.router,
        notifications.router,
        faces.router,
    ):
        app.include_router(router, prefix=API_PREFIX)
    for module in (places, people, exams, assignments, violations, records, events):
        for router in module.routers:
            app.include_router(router, prefix=API_PREFIX)
    return app


def _install_middleware(app: FastAPI, settings: Settings) -> None:
    """Each one added wraps the ones before: the client's address is settled first, the
    security headers then wrap every answer (the size limit's 413 too), and the size limit
    runs before the application reads the body."""
    app.add_middleware(
        BodySizeLimit,
        max_bytes=settings.max_request_bytes,
        max_upload_bytes=settings.max_upload_bytes,
    )
    app.add_middleware(SecurityHeaders)
    # X-Forwarded-For only from the configured proxies; from anyone else it is ignored.
    app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.trusted_proxies)
