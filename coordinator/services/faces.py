"""Enrolling a person's face: photos in, sealed templates stored, photos dropped.

The photos are decoded in memory, read by the same pipeline the door stations run, and never
written anywhere; only the templates are kept, sealed (AES-GCM) under a key derived from the
coordinator's secret and bound to the person. The caller owns the transaction.
"""

import threading
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from pydantic import SecretStr
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from coordinator.core.keys import KeyPurpose, derive_key
from coordinator.db.models import FaceTemplate, User
from coordinator.enrolment import Enrolment, EnrolmentRules, FaceReader, enrol, seal_templates
from coordinator.errors import InvalidInputError, NotFoundError
from coordinator.services.audit import Actor, record_change
from vision.errors import PhotoFormatError
from vision.photos import MAX_PHOTO_BYTES, MAX_PIXELS, decode_photo

MAX_PHOTOS = 10


@dataclass(frozen=True)
class PhotoProblem:
    photo: str
    reason: str


@dataclass(frozen=True)
class PhotoOutcome:
    """What became of one photo: used for a template, or why not."""

    photo: str
    used: bool
    reason: str | None


@dataclass(frozen=True)
class EnrolmentReport:
    model: str
    templates: int
    photos: list[PhotoOutcome]


class SharedReader:
    """One pipeline for the whole process: TFLite interpreters are not safe across threads."""

    def __init__(self, reader: FaceReader, model: str) -> None:
        self._reader = reader
        self._lock = threading.Lock()
        self.model = model  # the embedder model its templates are made with

    def enrol(self, photos: Mapping[str, np.ndarray], rules: EnrolmentRules) -> Enrolment:
        with self._lock:
            return enrol(self._reader, photos, rules)


def decode_photos(uploads: Mapping[str, bytes]) -> tuple[dict[str, np.ndarray], list[PhotoProblem]]:
    """RGB arrays of the photos that are images; the others with the reason they are not."""
    if not uploads:
        raise InvalidInputError("photos: send at least one photo")
    if len(uploads) > MAX_PHOTOS:
        raise InvalidInputError(f"photos: at most {MAX_PHOTOS} photos at a time")
    decoded, problems = {}, []
    for name, data in uploads.items():
        try:
            # One decoder for enrolment, benchmarks and tests: it applies EXIF orientation.
            decoded[name] = decode_photo(data, MAX_PHOTO_BYTES, MAX_PIXELS)
        except PhotoFormatError as error:
            problems.append(PhotoProblem(name, error.detail))
    return decoded, problems


def find_person(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFoundError(f"no user with id {user_id}")
    return user


def enrol_face(
    session: Session,
    user: User,
    *,
    uploads: Mapping[str, bytes],
    reader: SharedReader,
    secret: SecretStr,
    actor: Actor,
    rules: EnrolmentRules | None = None,
) -> EnrolmentReport:
    """Photos in, the person's sealed templates replaced, a report per photo out.

    Refused (InvalidInputError, naming every unusable photo) when too few photos are usable.
    """
    rules = rules or EnrolmentRules()
    decoded, problems = decode_photos(uploads)
    enrolment = reader.enrol(decoded, rules)
    outcomes = [PhotoOutcome(p.photo, used=False, reason=p.reason) for p in problems] + [
        PhotoOutcome(v.photo_id, used=v.is_used, reason=None if v.reason is None else str(v.reason))
        for v in enrolment.verdicts
    ]
    if not enrolment.is_complete:
        refused = "; ".join(f"{o.photo}: {o.reason}" for o in outcomes if not o.used)
        raise InvalidInputError(
            f"photos: {len(enrolment.templates)} usable, {rules.min_photos} needed ({refused})"
        )
    stored = store_templates(
        session, user, enrolment, model=reader.model, secret=secret, actor=actor
    )
    return EnrolmentReport(model=stored.model, templates=len(enrolment.templates), photos=outcomes)


def store_templates(
    session: Session,
    user: User,
    enrolment: Enrolment,
    *,
    model: str,
    secret: SecretStr,
    actor: Actor,
) -> FaceTemplate:
    """Replace the person's templates with the new ones, and say so in the audit log."""
    key = derive_key(secret, KeyPurpose.FACE_TEMPLATES)
    before = template_summary(session, user.id)
    session.execute(delete(FaceTemplate).where(FaceTemplate.user_id == user.id))
    stored = FaceTemplate(
        user_id=user.id, model=model, sealed=seal_templates(enrolment.templates, key, str(user.id))
    )
    session.add(stored)
    session.flush()
    record_change(
        session,
        actor,
        action="enrol_face",
        entity="face_templates",
        entity_id=user.id,
        before=before,
        after=template_summary(session, user.id),
    )
    return stored


def people_to_re_enrol(session: Session, current_model: str) -> list[User]:
    """People whose templates were made with another (retired) embedder model: devices on the
    current model cannot compare them, so they must be enrolled again."""
    stale = select(FaceTemplate.user_id).where(FaceTemplate.model != current_model)
    return list(session.scalars(select(User).where(User.id.in_(stale)).order_by(User.id)))


def forget_templates(session: Session, user: User, actor: Actor) -> None:
    before = template_summary(session, user.id)
    session.execute(delete(FaceTemplate).where(FaceTemplate.user_id == user.id))
    record_change(
        session,
        actor,
        action="forget_face",
        entity="face_templates",
        entity_id=user.id,
        before=before,
        after=None,
    )


def template_summary(session: Session, user_id: int) -> dict[str, object] | None:
    """What the audit log and the API may say about templates: never the templates themselves."""
    stored = session.scalars(select(FaceTemplate).where(FaceTemplate.user_id == user_id)).first()
    if stored is None:
        return None
    return {
        "model": stored.model,
        "created_at": stored.created_at.isoformat(),
        "sealed_bytes": len(stored.sealed),
    }
