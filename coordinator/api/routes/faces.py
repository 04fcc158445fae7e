"""A staff member's face templates: enrol from photos, see whether they exist, forget them."""

from typing import Annotated

from fastapi import APIRouter, File, Request, Response, UploadFile
from pydantic import BaseModel

from coordinator.api.deps import ADMIN, ActorDep, SessionDep, SettingsDep
from coordinator.errors import NotFoundError
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
    uploads = {
        photo.filename or f"photo-{n}": photo.file.read() for n, photo in enumerate(photos, 1)
    }
    report = faces.enrol_face(
        session,
        faces.find_person(session, user_id),
        uploads=uploads,
        reader=_reader(request, settings),
        secret=settings.secret_key,
        actor=actor,
    )
    session.commit()
    photo_outcomes = [PhotoOutcome.model_validate(vars(outcome)) for outcome in report.photos]
    return EnrolmentPublic(model=report.model, templates=report.templates, photos=photo_outcomes)


@router.get("", response_model=TemplatesPublic)
def read_templates(user_id: Id, session: SessionDep) -> TemplatesPublic:
    """Whether the person has templates, and of which model; never the templates themselves."""
    summary = faces.template_summary(session, faces.find_person(session, user_id).id)
    if summary is None:
        raise NotFoundError(f"user {user_id} has no face templates")
    return TemplatesPublic.model_validate(summary)


@router.delete("", status_code=204)
def forget_face(user_id: Id, session: SessionDep, actor: ActorDep) -> Response:
    """Delete the person's templates (for example when they leave)."""
    faces.forget_templates(session, faces.find_person(session, user_id), actor)
    session.commit()
    return Response(status_code=204)
