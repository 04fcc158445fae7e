"""`GET /api/v1/events` lists what ingest stored: paginated, filtered, and strict about input."""

import pytest
from fastapi.testclient import TestClient

from coordinator.api.app import create_app
from coordinator.core.config import Settings
from coordinator.db.enums import Role
from coordinator.errors import DatabaseNotReadyError
from coordinator.services.events import RawMessage, ingest
from protocols import Attendance, AttendanceAction, Birth, Sender, encode, topic_for
from tests.coordinator.conftest import Api


@pytest.fixture
def client(api: Api) -> TestClient:
    """Signed in as a technician (who may read device events), with 8 events stored."""
    messages = []
    for device in ("door-01", "door-02"):
        sender = Sender(device)
        envelopes = [sender.state(Birth(agent_version="1", profile="door"))]
        envelopes += [
            sender.sequenced(Attendance(action=AttendanceAction.CHECK_IN, person_ref=f"p{n}"))
            for n in range(3)
        ]
        messages += [RawMessage(topic_for("main", e), encode(e)) for e in envelopes]
    with api.sessions.begin() as session:
        ingest(session, messages, site=None, max_bytes=65536)
    api.client.headers.update(api.as_(Role.TECHNICIAN))
    return api.client


def test_lists_events_oldest_first_with_total(client: TestClient) -> None:
    page = client.get("/api/v1/events").json()
    assert page["total"] == 8 and len(page["items"]) == 8
    assert [item["id"] for item in page["items"]] == sorted(item["id"] for item in page["items"])


def test_filters_and_pages(client: TestClient) -> None:
    page = client.get(
        "/api/v1/events",
        params={"device_id": "door-02", "kind": "attendance", "limit": 2, "offset": 1},
    ).json()
    assert page["total"] == 3
    assert [(i["device_id"], i["kind"], i["seq"]) for i in page["items"]] == [
        ("door-02", "attendance", 2),
        ("door-02", "attendance", 3),
    ]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 501}, "limit"),
        ({"offset": -1}, "offset"),
        ({"device_id": "Door 1"}, "device_id"),
        ({"kind": "x" * 40}, "kind"),
    ],
)
def test_bad_query_parameters_are_422_naming_the_field(
    client: TestClient, params: dict[str, object], field: str
) -> None:
    response = client.get("/api/v1/events", params=params)
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "invalid_input"
    assert [error["field"] for error in body["fields"]] == [field]


def test_health_answers(client: TestClient) -> None:
    assert client.get("/api/v1/health").json()["ingest"] == "disabled"


def test_refuses_to_start_on_an_unmigrated_database(sqlite_url: str) -> None:
    settings = Settings(database_url=sqlite_url, mqtt_enabled=False)
    with (
        pytest.raises(DatabaseNotReadyError, match="run `coordinator migrate`"),
        TestClient(create_app(settings)),
    ):
        pass
