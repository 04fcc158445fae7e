"""`python -m protocols export-schema`: write or check the generated protocol reference."""

from pathlib import Path
from typing import Annotated

import typer

from protocols.schema import export_schemas, stale_files

app = typer.Typer(add_completion=False, help="Campus protocol tools.")


@app.command("export-schema")
def export_schema(
    directory: Annotated[Path, typer.Argument(help="Where to write.")] = Path("docs/protocol"),
    check: Annotated[bool, typer.Option(help="Only report files that are out of date.")] = False,
) -> None:
    """Write JSON Schema and the Markdown reference for every message."""
    if check:
        stale = stale_files(directory)
        if stale:
            typer.echo(f"out of date in {directory}: {', '.join(stale)}", err=True)
            raise typer.Exit(1)
        typer.echo(f"{directory} matches the models")
        return
    for path in export_schemas(directory):
        typer.echo(f"wrote {path}")


@app.callback()
def _root() -> None:
    """Keeps `export-schema` a named subcommand."""


if __name__ == "__main__":
    app()
