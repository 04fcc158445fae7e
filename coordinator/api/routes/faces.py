"""A staff member's face templates: enrol from photos, see whether they exist, forget them."""

from typing import Annotated

from fastapi import APIRouter, File, Request, Response, UploadFile
from pydantic import BaseModel

from coordinator.api.deps import ADMIN, ActorDep, SessionDep, SettingsDep
from coordinator.db.models import User
from coordinator.enrolment import EnrolmentRules
from coordinator.errors import InvalidInputError, NotFoundError
from coordinator.schemas.common import Id
from coordinator.services import faces
from vision import FacePipeline, VisionModels

router = APIRouter(prefix="/users/{user_id}/face-templates", tags=["faces"], dependencies=[ADMIN])


class PhotoOutcome(BaseModel):
    photo: str
    used: bool
    reason: str | None


class EnrolmentPublic(BaseModel):
    model: str
    templates: int
    photos: list[PhotoOutcome]


class TemplatesPublic(BaseModel):
    model: str
    created_at: str
    sealed_bytes: int


def _user(session: SessionDep, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFoundError(f"no user with id {user_id}")
    return user


def _reader(request: Request, settings: SettingsDep) -> faces.SharedReader:
    """Loaded on first use: a coordinator that never enrols never loads the models."""
    if getattr(request.app.state, "face_reader", None) is None:
        models = VisionModels.for_model(settings.face_model) if settings.face_model else None
        pipeline = FacePipeline(models)
        request.app.state.face_reader = faces.SharedReader(pipeline, pipeline.model)
    reader: faces.SharedReader = request.app.state.face_reader
    return reader


@router.post("", response_model=EnrolmentPublic, status_code=201)
def enrol_face(
    user_id: Id,
    photos: Annotated[list[UploadFile], File(description="3 or more JPEG/PNG photos")],
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    actor: ActorDep,
) -> EnrolmentPublic:
    """Build the person's templates from photos; the photos are not kept."""
    user = _user(session, user_id)
    uploads = {
        photo.filename or f"photo-{n}": photo.file.read() for n, photo in enumerate(photos, 1)
    }
    decoded, problems = faces.decode_photos(uploads)
    rules = EnrolmentRules()
    reader = _reader(request, settings)
    enrolment = reader.enrol(decoded, rules)
    outcomes = [PhotoOutcome(photo=p.photo, used=False, reason=p.reason) for p in problems] + [
        PhotoOutcome(
            photo=v.photo_id, used=v.is_used, reason=None if v.reason is None else str(v.reason)
        )
        for v in enrolment.verdicts
    ]
    if not enrolment.is_complete:
        refused = "; ".join(f"{o.photo}: {o.reason}" for o in outcomes if not o.used)
        raise InvalidInputError(
            f"photos: {len(enrolment.templates)} usable, {rules.min_photos} needed ({refused})"
        )
    stored = faces.store_templates(
        session,
        user,
        enrolment,
        model=reader.model,
        secret=settings.secret_key,
        actor=actor,
    )
    session.commit()
    return EnrolmentPublic(model=stored.model, templates=len(enrolment.templates), photos=outcomes)


@router.get("", response_model=TemplatesPublic)
def read_templates(user_id: Id, session: SessionDep) -> TemplatesPublic:
    """Whether the person has templates, and of which model; never the templates themselves."""
    summary = faces.template_summary(session, _user(session, user_id).id)
    if summary is None:
        raise NotFoundError(f"user {user_id} has no face templates")
    return TemplatesPublic.model_validate(summary)


@router.delete("", status_code=204)
def forget_face(user_id: Id, session: SessionDep, actor: ActorDep) -> Response:
    """Delete the person's templates (for example when they leave)."""
    faces.forget_templates(session, _user(session, user_id), actor)
    session.commit()
    return Response(status_code=204)
