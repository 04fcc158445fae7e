"""Account care by admins and managers: invite a person, reset a password or second factor."""

from datetime import datetime

from fastapi import APIRouter, BackgroundTasks, Request, status
from sqlalchemy.orm import Session

from coordinator.api.deps import (
    ADMIN,
    PLANNERS,
    ActorDep,
    ClockDep,
    ScopeDep,
    SessionDep,
    SettingsDep,
)
from coordinator.db.models import User, utc_now
from coordinator.errors import NotFoundError
from coordinator.schemas.auth import LinkSentAnswer
from coordinator.schemas.common import Id
from coordinator.services import accounts
from coordinator.services.accounts import LinkSent
from coordinator.services.mail import deliver_pending

router = APIRouter(tags=["accounts"])


@router.post("/users/{user_id}/invite", response_model=LinkSentAnswer, dependencies=[PLANNERS])
def invite(
    user_id: Id,
    request: Request,
    background: BackgroundTasks,
    session: SessionDep,
    scope: ScopeDep,
    actor: ActorDep,
    settings: SettingsDep,
    clock: ClockDep,
) -> LinkSentAnswer:
    """Send (again) the one-time link through which a person sets their first password."""
    user = _user(session, user_id)
    accounts.require_may_invite(session, scope=scope, user=user)
    sent = accounts.invite(session, user=user, actor=actor, settings=settings, now=clock())
    session.commit()
    return _answer(sent, request, background, clock())


@router.post("/users/{user_id}/reset-password", response_model=LinkSentAnswer, dependencies=[ADMIN])
def reset_password(
    user_id: Id,
    request: Request,
    background: BackgroundTasks,
    session: SessionDep,
    actor: ActorDep,
    settings: SettingsDep,
    clock: ClockDep,
) -> LinkSentAnswer:
    """Clear a person's password and end their sign-ins; they set a new one through a link."""
    user = _user(session, user_id)
    sent = accounts.reset_password(session, user=user, actor=actor, settings=settings, now=clock())
    session.commit()
    return _answer(sent, request, background, clock())


@router.post(
    "/users/{user_id}/reset-second-factor",
    status_code=status.HTTP_204_NO_CONTENT,
    dependencies=[ADMIN],
)
def reset_second_factor(user_id: Id, session: SessionDep, actor: ActorDep, clock: ClockDep) -> None:
    """Remove a lost second factor and end the person's sign-ins; they enrol again."""
    user = _user(session, user_id)
    accounts.reset_second_factor(session, user=user, actor=actor, now=clock())
    session.commit()


def _user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFoundError("no such user")
    return user


def _answer(
    sent: LinkSent, request: Request, background: BackgroundTasks, now: datetime
) -> LinkSentAnswer:
    if sent.mailed:
        background.add_task(_deliver_mail, request)
    return LinkSentAnswer(
        mailed=sent.mailed,
        link=sent.link,
        expires_in=round((sent.expires_at - now).total_seconds()),
    )


def _deliver_mail(request: Request) -> None:
    """After the answer: hand queued mail to SMTP; what fails stays queued for the next run."""
    settings = request.app.state.settings
    with request.app.state.sessions() as session:
        deliver_pending(session, settings, now=utc_now())
