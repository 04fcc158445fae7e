"""Alembic owns the schema: it matches the models, and goes up and down on both backends."""

from datetime import UTC, datetime

import pytest
from alembic import command
from sqlalchemy import inspect, select
from sqlalchemy.orm import Session, sessionmaker

from coordinator.db.diagram import DOC, render
from coordinator.db.enums import DeviceStatus
from coordinator.db.migrate import alembic_config, downgrade, upgrade
from coordinator.db.models import AttemptRecord, Device, Site
from coordinator.db.session import make_engine
from protocols import Credential, Outcome, ReasonCode, Station


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


def test_every_reason_code_of_the_wire_can_be_stored(sessions: sessionmaker[Session]) -> None:
    """Reason codes grow with the devices; a code the protocol accepts must never fail to store."""
    with sessions() as session:
        site = Site(code="north", name="North", time_zone="Europe/Berlin")
        session.add(site)
        session.flush()
        session.add(Device(id="door-1", site_id=site.id, profile="sim", status=DeviceStatus.ACTIVE))
        session.flush()
        for reason in ReasonCode:
            session.add(
                AttemptRecord(
                    device_id="door-1",
                    at=datetime.now(UTC),
                    station=Station.DOOR,
                    credential=Credential.CARD,
                    outcome=Outcome.REFUSED,
                    reason=reason,
                )
            )
        session.commit()
        stored = set(session.scalars(select(AttemptRecord.reason)))
    assert stored == set(ReasonCode)
