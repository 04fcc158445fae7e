"""Alembic owns the schema: it matches the models, and goes up and down on both backends."""

import pytest
from alembic import command
from sqlalchemy import inspect

from coordinator.db.diagram import DOC, render
from coordinator.db.migrate import alembic_config, downgrade, upgrade
from coordinator.db.session import make_engine


@pytest.mark.parametrize("backend", ["sqlite_url", "postgres_url"])
def test_upgrade_matches_models_and_downgrade_empties(
    backend: str, request: pytest.FixtureRequest
) -> None:
    url: str = request.getfixturevalue(backend)
    upgrade(url)
    command.check(alembic_config(url))  # raises if the models and migrations differ
    engine = make_engine(url)
    assert {"events", "dead_letters"} <= set(inspect(engine).get_table_names())
    downgrade(url)
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    engine.dispose()


def test_the_data_model_diagram_matches_the_models() -> None:
    assert DOC.read_text(encoding="utf-8") == render(), "run `python -m coordinator.db.diagram`"
