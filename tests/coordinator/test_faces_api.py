"""Face enrolment through the API: photos in, sealed templates stored, photos never kept."""

import io

import numpy as np
import pytest
import skimage.data
from PIL import Image
from sqlalchemy import select

from coordinator.core.keys import KeyPurpose, derive_key
from coordinator.db import models as m
from coordinator.db.enums import Role
from coordinator.enrolment import open_templates
from tests.coordinator.conftest import Api

PORTRAIT = np.ascontiguousarray(skimage.data.astronaut())  # type: ignore[no-untyped-call]


def _png(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def photos(*crops: tuple[int, int]) -> list[tuple[str, tuple[str, bytes, str]]]:
    """The same person in slightly different framings, as a phone would take them."""
    return [
        (
            "photos",
            (f"photo-{n}.png", _png(PORTRAIT[top : top + 460, left : left + 460]), "image/png"),
        )
        for n, (top, left) in enumerate(crops, 1)
    ]


@pytest.fixture
def url(api: Api) -> str:
    return f"/api/v1/users/{api.campus.own.supervisor.id}/face-templates"


def test_enrolment_stores_sealed_templates_and_audits_without_them(api: Api, url: str) -> None:
    response = api.client.post(
        url, files=photos((0, 0), (12, 8), (6, 20)), headers=api.as_(Role.ADMIN)
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["templates"] == 3 and all(photo["used"] for photo in body["photos"])
    supervisor = api.campus.own.supervisor.id
    with api.sessions() as session:
        stored = session.scalars(
            select(m.FaceTemplate).where(m.FaceTemplate.user_id == supervisor)
        ).one()
        key = derive_key(api.settings.secret_key, KeyPurpose.FACE_TEMPLATES)
        templates = open_templates(stored.sealed, key, str(supervisor))
        assert len(templates) == 3 and templates[0].shape == (128,)
        assert PORTRAIT.tobytes()[:64] not in stored.sealed
        entry = session.scalars(
            select(m.AuditEntry).where(m.AuditEntry.entity == "face_templates")
        ).one()
        assert entry.action == "enrol_face" and entry.after is not None
        assert set(entry.after) == {"model", "created_at", "sealed_bytes"}
    summary = api.client.get(url, headers=api.as_(Role.ADMIN)).json()
    assert summary["model"] == "sface-2021dec" and summary["sealed_bytes"] == len(stored.sealed)


def test_each_refused_photo_says_why_and_nothing_is_stored(api: Api, url: str) -> None:
    files = [
        *photos((0, 0)),
        ("photos", ("notes.txt", b"not a photo", "text/plain")),
        ("photos", ("sky.png", _png(PORTRAIT[:60, 300:]), "image/png")),
    ]
    response = api.client.post(url, files=files, headers=api.as_(Role.ADMIN))
    assert response.status_code == 422
    message = response.json()["message"]
    assert message.startswith("photos: 1 usable, 3 needed")
    assert "notes.txt: not an image" in message and "sky.png: no_face" in message
    assert api.client.get(url, headers=api.as_(Role.ADMIN)).status_code == 404


def test_templates_can_be_forgotten(api: Api, url: str) -> None:
    api.client.post(url, files=photos((0, 0), (12, 8), (6, 20)), headers=api.as_(Role.ADMIN))
    assert api.client.delete(url, headers=api.as_(Role.ADMIN)).status_code == 204
    assert api.client.get(url, headers=api.as_(Role.ADMIN)).status_code == 404


def test_only_admins_enrol_faces(api: Api, url: str) -> None:
    for role in (Role.MANAGER, Role.SUPERVISOR, Role.TECHNICIAN):
        response = api.client.post(url, files=photos((0, 0)), headers=api.as_(role))
        assert response.status_code == 403


def test_sideways_stored_phone_photos_enrol_through_the_api(api: Api, url: str) -> None:
    from tests.vision.test_photos import sideways_jpeg

    crops = [
        PORTRAIT[top : top + 460, left : left + 460] for top, left in [(0, 0), (12, 8), (6, 20)]
    ]
    files = [
        ("photos", (f"phone-{n}.jpg", sideways_jpeg(crop), "image/jpeg"))
        for n, crop in enumerate(crops, 1)
    ]
    response = api.client.post(url, files=files, headers=api.as_(Role.ADMIN))
    assert response.status_code == 201, response.text
    assert all(photo["used"] for photo in response.json()["photos"])


def test_people_with_templates_of_a_retired_model_are_listed(api: Api) -> None:
    from coordinator.services.faces import people_to_re_enrol

    own = api.campus.own.supervisor.id
    with api.sessions() as session:
        session.add(m.FaceTemplate(user_id=own, model="dlib-resnet-v1", sealed=b"x"))
        session.commit()
        assert [u.id for u in people_to_re_enrol(session, "sface-2021dec")] == [own]
        assert people_to_re_enrol(session, "dlib-resnet-v1") == []
