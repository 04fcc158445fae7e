"""`coordinator`: migrate the database and serve the API with MQTT ingest."""

import logging
from typing import Annotated, Any

import typer
import uvicorn
from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError

from coordinator.api.app import create_app
from coordinator.core.config import Settings
from coordinator.db.migrate import upgrade
from coordinator.errors import CoordinatorError, SettingsError

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
    uvicorn.run(create_app(settings), host=settings.http_host, port=settings.http_port)


@app.callback()
def _root() -> None:
    """Campus coordinator: the fleet's system of record."""


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        app()
    except (CoordinatorError, SQLAlchemyError) as error:
        typer.echo(f"coordinator: {error}".splitlines()[0], err=True)
        raise SystemExit(2) from None
