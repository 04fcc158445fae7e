"""`coordinator`: migrate the database and serve the API with MQTT ingest."""

import logging
import os
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
import uvicorn
from prometheus_client import start_http_server
from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from coordinator.api.app import create_app
from coordinator.auth.admins import create_admin
from coordinator.bundles import keys
from coordinator.core.config import Settings
from coordinator.core.passwords import Passwords
from coordinator.db.migrate import require_current, upgrade
from coordinator.db.models import BundleSync, utc_now
from coordinator.db.session import make_engine, make_sessionmaker, transaction
from coordinator.errors import CoordinatorError, SettingsError
from coordinator.ingest.mqtt import retire_slot
from coordinator.ingest.worker import IngestWorker
from coordinator.schemas.csv_io import CsvKind
from coordinator.services.accounts import Invitations
from coordinator.services.audit import verify_chain
from coordinator.services.csv_io import CsvRejectedError, admin_actor, import_csv
from coordinator.services.mail import deliver_pending, is_mail_configured
from protocols import decode

app = typer.Typer(add_completion=False, help="Campus coordinator.", no_args_is_help=True)

DatabaseOption = Annotated[
    str | None, typer.Option(help="SQLAlchemy URL; default from COORDINATOR_DATABASE_URL.")
]


def load_settings(**overrides: Any) -> Settings:
    """Settings from COORDINATOR_* variables, with the command line's options on top."""
    try:
        return Settings(**{name: value for name, value in overrides.items() if value is not None})
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(map(str, item['loc'])) or 'settings'}: {item['msg']}"
            for item in error.errors(include_url=False)
        )
        raise SettingsError(f"invalid settings: {problems}") from None


@app.command()
def migrate(database_url: DatabaseOption = None) -> None:
    """Bring the database schema up to date (creates it on first run)."""
    settings = load_settings(database_url=database_url)
    upgrade(settings.database_url)
    typer.echo("database is up to date")


ADMIN_PASSWORD_VARIABLE = "COORDINATOR_ADMIN_PASSWORD"


@app.command("create-admin")
def create_admin_account(
    email: Annotated[str, typer.Option(help="The admin's email; they sign in with it.")],
    full_name: Annotated[str, typer.Option(help="The admin's full name.")],
    database_url: DatabaseOption = None,
) -> None:
    """Create an admin; asks for the password, or reads COORDINATOR_ADMIN_PASSWORD in scripts."""
    settings = load_settings(database_url=database_url)
    # Never a command-line option: arguments show up in `ps` and the shell history.
    password = os.environ.get(ADMIN_PASSWORD_VARIABLE) or typer.prompt(
        "Password (12+ characters)", hide_input=True, confirmation_prompt=True
    )
    with transaction(settings.database_url) as session:
        user = create_admin(
            session, Passwords(), email=email, full_name=full_name, password=password
        )
        typer.echo(f"admin {user.email} created (id {user.id}); enrols TOTP at first sign-in")


@app.command("import-csv")
def import_csv_file(
    kind: Annotated[CsvKind, typer.Argument(help="What the file holds.")],
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="The CSV file.")],
    as_email: Annotated[str, typer.Option("--as", help="Email of the admin doing the import.")],
    dry_run: Annotated[bool, typer.Option(help="Check every row, write nothing.")] = False,
    database_url: DatabaseOption = None,
) -> None:
    """Import a CSV file all-or-nothing, audited as the named admin; see docs/csv.md."""
    settings = load_settings(database_url=database_url)
    try:
        with transaction(settings.database_url) as session:
            actor, scope = admin_actor(session, as_email, address="cli")
            result = import_csv(
                session,
                kind,
                file.read_bytes(),
                actor=actor,
                scope=scope,
                invitations=Invitations(settings, utc_now()),
                dry_run=dry_run,
            )
    except CsvRejectedError as rejected:
        for problem in rejected.problems:
            typer.echo(f"row {problem.row}, {problem.column or '-'}: {problem.message}", err=True)
        typer.echo(f"coordinator: {rejected}", err=True)
        raise typer.Exit(1) from None
    verb = "would create" if dry_run else "created"
    typer.echo(
        f"{kind.value}: {verb} {result.created}, updated {result.updated}, "
        f"unchanged {result.unchanged}"
    )


@app.command("ingest")
def ingest_only(
    database_url: DatabaseOption = None,
    client_id: Annotated[
        str | None, typer.Option(help="MQTT client id of this worker (one per worker).")
    ] = None,
    metrics_port: Annotated[
        int | None, typer.Option(min=1, max=65535, help="Serve /metrics on this port.")
    ] = None,
    retire: Annotated[
        bool,
        typer.Option(
            "--retire",
            help="Do not run: end this worker slot's broker session and clear its online"
            " state (its process must be stopped), so its share goes to the other workers.",
        ),
    ] = False,
) -> None:
    """Run one ingest worker without the API; start several to share the fleet's messages."""
    settings = load_settings(database_url=database_url, mqtt_client_id=client_id)
    if retire:
        retire_slot(settings)
        typer.echo(f"ingest worker slot {settings.mqtt_client_id} retired")
        return
    logging.getLogger("coordinator").setLevel(logging.INFO)
    engine = make_engine(settings.database_url)
    require_current(engine)
    stopping = threading.Event()
    for signal_number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signal_number, lambda *_: stopping.set())
    worker = IngestWorker(
        settings, make_sessionmaker(engine), when_dead=lambda error: stopping.set()
    )
    if metrics_port is not None:
        start_http_server(metrics_port, addr=settings.http_host, registry=worker.metrics.registry)
    worker.start()
    typer.echo(f"ingest worker {settings.mqtt_client_id} started")
    while not stopping.wait(1.0):
        pass
    worker.stop()
    engine.dispose()
    if worker.failure is not None:
        typer.echo(f"coordinator: the ingest worker died: {worker.failure!r}", err=True)
        raise typer.Exit(70)


@app.command()
def serve(
    database_url: DatabaseOption = None,
    host: Annotated[str | None, typer.Option(help="Listen address.")] = None,
    port: Annotated[int | None, typer.Option(help="Listen port.")] = None,
    mqtt_host: Annotated[str | None, typer.Option(help="MQTT broker host.")] = None,
    mqtt_port: Annotated[int | None, typer.Option(help="MQTT broker port.")] = None,
) -> None:
    """Serve the API and ingest device messages from the broker."""
    settings = load_settings(
        database_url=database_url,
        http_host=host,
        http_port=port,
        mqtt_host=mqtt_host,
        mqtt_port=mqtt_port,
    )
    typer.echo(f"coordinator on http://{settings.http_host}:{settings.http_port}/docs")
    logging.getLogger("coordinator").setLevel(logging.INFO)  # a server's log says what it does
    server: uvicorn.Server | None = None

    def when_ingest_dies(error: BaseException) -> None:
        if server is not None:
            server.should_exit = True  # a graceful stop, then the failure status below

    # The app trusts proxy headers itself, only from COORDINATOR_TRUSTED_PROXIES.
    application = create_app(settings, when_ingest_dies=when_ingest_dies)
    server = uvicorn.Server(
        uvicorn.Config(
            application, host=settings.http_host, port=settings.http_port, proxy_headers=False
        )
    )
    server.run()
    worker = application.state.ingest
    if worker is not None and worker.failure is not None:
        typer.echo(f"coordinator: the ingest worker died: {worker.failure!r}", err=True)
        raise typer.Exit(70)  # EX_SOFTWARE: systemd's Restart=on-failure starts it again


mail = typer.Typer(help="The mail outbox (invites and password links).", no_args_is_help=True)
app.add_typer(mail, name="mail")


@mail.command("send")
def send_mail(database_url: DatabaseOption = None) -> None:
    """Hand queued mail to the SMTP server; run from a timer to retry what failed."""
    settings = load_settings(database_url=database_url)
    if not is_mail_configured(settings):
        typer.echo("coordinator: set COORDINATOR_SMTP_HOST to send mail", err=True)
        raise typer.Exit(1)
    with transaction(settings.database_url) as session:
        delivery = deliver_pending(session, settings, now=utc_now())
    typer.echo(f"mail: sent {delivery.sent}, failed {delivery.failed}")
    if delivery.failed:
        raise typer.Exit(1)


audit = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)
app.add_typer(audit, name="audit")


@audit.command("verify")
def verify_audit(database_url: DatabaseOption = None) -> None:
    """Recompute the audit log's hash chain; exit 1 naming the first edited or missing row."""
    settings = load_settings(database_url=database_url)
    with transaction(settings.database_url) as session:
        report = verify_chain(session)
    if report.broken is not None:
        typer.echo(
            f"audit log BROKEN at entry {report.broken.entry_id}: {report.broken.problem} "
            f"({report.checked} entries checked)",
            err=True,
        )
        raise typer.Exit(1)
    typer.echo(f"audit log intact: {report.checked} entries; newest hash {report.head}")


bundles = typer.Typer(help="Signed device bundles.", no_args_is_help=True)
app.add_typer(bundles, name="bundles")


@bundles.command("export")
def export_bundle(
    device_id: Annotated[str, typer.Argument(help="The device whose built bundle to write.")],
    out: Annotated[Path, typer.Option(help="File to write the signed bundle to.")],
    database_url: DatabaseOption = None,
) -> None:
    """Write a device's latest built bundle to a file (a station can run on it offline)."""
    settings = load_settings(database_url=database_url)
    with transaction(settings.database_url) as session:
        sync = session.get(BundleSync, device_id)
        if sync is None or sync.signed is None:
            raise typer.BadParameter(f"no bundle built for {device_id!r} yet")
        payload = decode(sync.signed, max_bytes=len(sync.signed)).payload
    out.write_text(payload.model_dump_json(), encoding="utf-8")
    typer.echo(f"wrote version {sync.built_version} for {device_id} to {out}")


signing_keys = typer.Typer(
    help="The site's signing keys (bundles and passes) and their rotation: docs/passes.md.",
    no_args_is_help=True,
)
app.add_typer(signing_keys, name="keys")


@signing_keys.command("list")
def list_keys(database_url: DatabaseOption = None) -> None:
    """Every key with its state (new: trusted, not signing; active: signing; retired) and public
    half, which provisioning gives a device to trust. Makes the first key if there is none."""
    settings = load_settings(database_url=database_url)
    with transaction(settings.database_url) as session:
        keys.ensure_active_key(session, settings.secret_key)
        for key in keys.all_keys(session):
            state = "retired" if key.retired_at else "active" if key.activated_at else "new"
            created = f"{key.created_at:%Y-%m-%d %H:%M}"
            typer.echo(f"{key.key_id}  {state:7}  {key.public_key}  created {created}")


@signing_keys.command("add")
def add_signing_key(database_url: DatabaseOption = None) -> None:
    """Step 1: a new key, trusted by devices from their next bundle, signing nothing yet."""
    settings = load_settings(database_url=database_url)
    with transaction(settings.database_url) as session:
        key = keys.add_key(session, settings.secret_key)
        typer.echo(f"added {key.key_id}; activate it once every device acknowledged its bundle")


@signing_keys.command("activate")
def activate_signing_key(key_id: str, database_url: DatabaseOption = None) -> None:
    """Step 2: the key signs new bundles and passes; the previous one still verifies."""
    _key_step(keys.activate_key, key_id, database_url, "signs from now on")


@signing_keys.command("retire")
def retire_signing_key(key_id: str, database_url: DatabaseOption = None) -> None:
    """Step 3: devices stop trusting the key; passes it signed are refused as unknown key."""
    _key_step(keys.retire_key, key_id, database_url, "retired: gates refuse its passes")


def _key_step(
    step: Callable[[Session, str], object], key_id: str, database_url: str | None, done: str
) -> None:
    settings = load_settings(database_url=database_url)
    try:
        with transaction(settings.database_url) as session:
            step(session, key_id)
    except CoordinatorError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"{key_id} {done}")


@app.callback()
def _root() -> None:
    """Campus coordinator: the fleet's system of record."""


def main() -> None:
    # Warnings only by default: a command's answer (or its one-line error) must not drown in
    # library chatter such as Alembic's INFO lines; `serve` turns our own INFO logs back on.
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    try:
        app()
    except (CoordinatorError, SQLAlchemyError) as error:
        typer.echo(f"coordinator: {error}".splitlines()[0], err=True)
        raise SystemExit(2) from None
