"""Schemathesis walks the OpenAPI schema: no input may cause a 500 or an answer off the schema.

Bounded (a few examples per operation) so it fits the test run; it signs in as an admin so most
operations get past authorisation and reach the code that handles the input.

One check is left out: "schema-valid input must be accepted". The API answers 422 for input that
fits the schema but not the data (a wrong TOTP code, a CSV row for an unknown room, emptying a
required field), and says which field; that is the designed answer, not a failure.
"""

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import positive_data_acceptance

from coordinator.api.app import create_app
from coordinator.auth.tokens import issue_access_token
from coordinator.core.config import Settings
from coordinator.db.migrate import upgrade
from coordinator.db.session import make_engine, make_sessionmaker
from tests.coordinator.campus import build_campus


@pytest.fixture(scope="module")
def signed_in(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, str]]:
    url = f"sqlite:///{Path(tmp_path_factory.mktemp('fuzz')) / 'coordinator.sqlite3'}"
    upgrade(url)
    engine = make_engine(url)
    with make_sessionmaker(engine)() as session:
        admin_id = build_campus(session).admin.id
    engine.dispose()
    config = Settings(database_url=url, mqtt_enabled=False)
    token = issue_access_token(
        config.secret_key,
        user_id=admin_id,
        role="admin",
        second_factor=True,
        lifetime=timedelta(hours=1),
    )
    with TestClient(create_app(config)) as client:
        yield client, token


def test_no_input_breaks_the_api(signed_in: tuple[TestClient, str]) -> None:
    client, token = signed_in
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", client.app)
    headers = {"Authorization": f"Bearer {token}"}
    results = list(schema.get_all_operations())
    operations = [result.ok() for result in results if isinstance(result, Ok)]
    assert len(operations) == len(results), "every operation's schema must be valid OpenAPI"
    assert len(operations) > 60
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=10, deadline=None, suppress_health_check=list(HealthCheck), database=None
        )
        def call(case: Any) -> None:
            case.call_and_validate(headers=headers, excluded_checks=[positive_data_acceptance])

        call()
