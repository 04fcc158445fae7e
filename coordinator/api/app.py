"""The FastAPI application factory: engine, sessions and the ingest worker live in its lifespan."""

import os
import signal
from collections.abc import AsyncIterator, Callable
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
    delivery,
    downlink,
    events,
    exams,
    faces,
    health,
    notifications,
    pass_links,
    pass_print,
    passes,
    people,
    places,
    records,
    violations,
)
from coordinator.bundles.builder import BundleBuilder, Senders
from coordinator.core.config import Settings
from coordinator.db.migrate import require_current
from coordinator.db.session import make_engine, make_sessionmaker
from coordinator.ingest.metrics import IngestMetrics
from coordinator.ingest.worker import IngestWorker
from coordinator.link.base import NoPublisher
from coordinator.link.mqtt import MqttPublisher
from coordinator.services.mail import MailCourier, is_mail_configured

API_PREFIX = "/api/v1"


def _terminate_self(error: BaseException) -> None:
    """A dead ingest worker stops the server, which then exits non-zero (`coordinator serve`)."""
    os.kill(os.getpid(), signal.SIGTERM)


def create_app(
    settings: Settings, *, when_ingest_dies: Callable[[BaseException], object] = _terminate_self
) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings.database_url)
        require_current(engine)
        app.state.sessions = make_sessionmaker(engine)
        app.state.settings = settings
        app.state.ingest = (
            IngestWorker(
                settings, app.state.sessions, metrics=app.state.metrics, when_dead=when_ingest_dies
            )
            if settings.mqtt_enabled
            else None
        )
        app.state.senders = Senders()
        app.state.publisher = MqttPublisher(settings) if settings.mqtt_enabled else NoPublisher()
        builder = BundleBuilder(
            settings, app.state.sessions, app.state.publisher, app.state.senders
        )
        courier = (
            MailCourier(settings, app.state.sessions, every_s=settings.mail_send_interval_s)
            if is_mail_configured(settings)
            else None
        )
        if app.state.ingest:
            app.state.ingest.start()
            app.state.publisher.start()
            builder.start()
        if courier:
            courier.start()
        try:
            yield
        finally:
            if courier:
                courier.stop()
            if app.state.ingest:
                builder.stop()
                app.state.publisher.stop()
                app.state.ingest.stop()
            engine.dispose()

    app = FastAPI(
        title="Campus coordinator",
        version=__version__,
        lifespan=lifespan,
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url="/docs",
        redoc_url=None,  # one docs page, the only one whose CSP allows a CDN
        responses=ERROR_RESPONSES,
    )
    app.state.ingest = None
    app.state.metrics = IngestMetrics()
    install_error_handlers(app)
    _install_middleware(app, settings)
    for router in (
        auth.router,
        accounts.router,
        csv_io.router,
        health.router,
        notifications.router,
        faces.router,
        faces.stale_router,
        downlink.router,
        pass_print.router,
        pass_links.router,
    ):
        app.include_router(router, prefix=API_PREFIX)
    modules = (places, people, exams, assignments, violations, passes, records, events, delivery)
    for module in modules:
        for router in module.routers:
            app.include_router(router, prefix=API_PREFIX)
    app.include_router(delivery.metrics_router)
    app.include_router(pass_links.page_router)
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
