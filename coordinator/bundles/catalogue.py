"""What one build round's bundles draw on, read from the database in a fixed number of queries.

`read_catalogue` reads every record the round's devices need at once, keyed for lookups, so a
change that touches a thousand devices costs about ten queries, not ten thousand; compiling
each bundle from it is `coordinator/bundles/compile.py`. Face templates are opened (they rest
sealed under the coordinator's secret) once per person per round.
"""

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pydantic import SecretStr
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from coordinator.core.keys import KeyPurpose, derive_key
from coordinator.db.enums import PassStatus, StudentStatus
from coordinator.db.models import (
    Assignment,
    CardCredential,
    Device,
    Exam,
    ExamSession,
    FaceTemplate,
    Gate,
    GateTimeRule,
    Room,
    SessionEnrolment,
    Site,
    Student,
    StudentPass,
    User,
)
from coordinator.enrolment import TemplateSealError, open_templates
from coordinator.services.downlink import ON_ROSTER
from protocols.bundle import (
    PersonKind,
    RosterSession,
)
from protocols.templates import pack_templates

Person = tuple[PersonKind, int]


@dataclass(frozen=True)
class BuildRules:
    """What goes into a bundle besides the records: how far ahead, and the check-in window."""

    horizon: timedelta
    check_in_before: timedelta
    check_in_after: timedelta


@dataclass
class Catalogue:
    """Every record a round's bundles draw on, read once, keyed for lookups."""

    devices: dict[str, Device]
    sites: dict[int, Site]
    rooms: dict[int, Room]
    gates: dict[int, Gate]
    sessions: dict[int, list[tuple[ExamSession, str]]]  # by room, with the exam's code
    expected: dict[int, dict[Person, RosterSession]]  # by exam session
    colleagues: dict[int, set[int]]  # by building: supervisors assigned in it, in the horizon
    names: dict[Person, str]
    cards: dict[Person, list[str]]
    templates: dict[int, FaceTemplate]
    revoked_passes: list[str] | None
    suspended_passes: list[str] = field(default_factory=list)
    time_rules: dict[int, list[GateTimeRule]] = field(default_factory=dict)  # by gate
    _opened: dict[int, bytes | None] = field(default_factory=dict)
    _card_key: bytes | None = None

    def card_key(self, secret: SecretStr) -> bytes:
        if self._card_key is None:
            self._card_key = derive_key(secret, KeyPurpose.CARD_UIDS)
        return self._card_key

    def template_bytes(self, user_id: int, secret: SecretStr) -> bytes | None:
        """A person's templates in the shared format, opened once per round."""
        if user_id not in self._opened:
            self._opened[user_id] = _open(self.templates.get(user_id), secret)
        return self._opened[user_id]


def read_catalogue(
    session: Session, device_ids: Sequence[str], now: datetime, rules: BuildRules
) -> Catalogue:
    devices = {d.id: d for d in session.scalars(select(Device).where(Device.id.in_(device_ids)))}
    room_ids = {d.room_id for d in devices.values() if d.room_id is not None}
    gate_ids = {d.gate_id for d in devices.values() if d.gate_id is not None}
    site_ids = {d.site_id for d in devices.values()}
    sessions = _sessions_by_room(session, room_ids, now, rules)
    session_ids = [s.id for rows in sessions.values() for s, _ in rows]
    expected = _expected(session, session_ids)
    rooms = {r.id: r for r in session.scalars(select(Room).where(Room.id.in_(room_ids)))}
    colleagues = _colleagues(session, {r.building_id for r in rooms.values()}, now, rules)
    people = {person for by_person in expected.values() for person in by_person}
    people |= {(PersonKind.USER, i) for ids in colleagues.values() for i in ids}
    user_ids = [i for kind, i in people if kind is PersonKind.USER]
    student_ids = [i for kind, i in people if kind is PersonKind.STUDENT]
    return Catalogue(
        devices=devices,
        sites={s.id: s for s in session.scalars(select(Site).where(Site.id.in_(site_ids)))},
        rooms=rooms,
        colleagues=colleagues,
        gates={g.id: g for g in session.scalars(select(Gate).where(Gate.id.in_(gate_ids)))},
        sessions=sessions,
        expected=expected,
        names=_active_names(session, user_ids, student_ids),
        cards=_cards(session, user_ids, student_ids),
        templates={
            t.user_id: t
            for t in session.scalars(select(FaceTemplate).where(FaceTemplate.user_id.in_(user_ids)))
        },
        revoked_passes=_revoked_passes(session, now) if gate_ids else None,
        suspended_passes=_suspended_passes(session, now) if gate_ids else [],
        time_rules=_time_rules(session, gate_ids),
    )


def _sessions_by_room(
    session: Session, room_ids: set[int], now: datetime, rules: BuildRules
) -> dict[int, list[tuple[ExamSession, str]]]:
    rows = session.execute(
        select(ExamSession, Exam.code)
        .join(Exam, Exam.id == ExamSession.exam_id)
        .where(
            ExamSession.room_id.in_(room_ids),
            ExamSession.ends_at > now,
            ExamSession.starts_at < now + rules.horizon,
        )
        .order_by(ExamSession.starts_at, ExamSession.id)
    ).all()
    by_room: dict[int, list[tuple[ExamSession, str]]] = defaultdict(list)
    for exam_session, code in rows:
        by_room[exam_session.room_id].append((exam_session, code))
    return by_room


def _colleagues(
    session: Session, building_ids: set[int], now: datetime, rules: BuildRules
) -> dict[int, set[int]]:
    """Supervisors assigned anywhere in these buildings within the horizon: a door knows them
    by card, so one at the wrong room is told "not assigned here", not "unknown card"."""
    rows = session.execute(
        select(Room.building_id, Assignment.supervisor_id)
        .join(ExamSession, ExamSession.room_id == Room.id)
        .join(Assignment, Assignment.session_id == ExamSession.id)
        .where(
            Room.building_id.in_(building_ids),
            Assignment.status.in_(ON_ROSTER),
            ExamSession.ends_at > now,
            ExamSession.starts_at < now + rules.horizon,
        )
    ).all()
    by_building: dict[int, set[int]] = defaultdict(set)
    for building_id, supervisor_id in rows:
        by_building[building_id].add(supervisor_id)
    return by_building


def _expected(session: Session, session_ids: list[int]) -> dict[int, dict[Person, RosterSession]]:
    """Who is expected at each session: assigned supervisors and enrolled students."""
    expected: dict[int, dict[Person, RosterSession]] = defaultdict(dict)
    for assignment in session.scalars(
        select(Assignment).where(
            Assignment.session_id.in_(session_ids), Assignment.status.in_(ON_ROSTER)
        )
    ):
        expected[assignment.session_id][(PersonKind.USER, assignment.supervisor_id)] = (
            RosterSession(session_ref=str(assignment.session_id), assignment_ref=str(assignment.id))
        )
    for enrolment in session.scalars(
        select(SessionEnrolment).where(SessionEnrolment.session_id.in_(session_ids))
    ):
        expected[enrolment.session_id][(PersonKind.STUDENT, enrolment.student_id)] = RosterSession(
            session_ref=str(enrolment.session_id)
        )
    return expected


def _active_names(
    session: Session, user_ids: list[int], student_ids: list[int]
) -> dict[Person, str]:
    """Display names of the people who may be on a roster: active accounts and students."""
    names: dict[Person, str] = {}
    for user in session.scalars(select(User).where(User.id.in_(user_ids), User.is_active)):
        names[(PersonKind.USER, user.id)] = user.full_name[:200]
    for student in session.scalars(
        select(Student).where(Student.id.in_(student_ids), Student.status == StudentStatus.ACTIVE)
    ):
        names[(PersonKind.STUDENT, student.id)] = student.full_name[:200]
    return names


def _cards(
    session: Session, user_ids: list[int], student_ids: list[int]
) -> dict[Person, list[str]]:
    cards: dict[Person, list[str]] = defaultdict(list)
    for card in session.scalars(
        select(CardCredential)
        .where(
            CardCredential.is_active.is_(True),
            or_(CardCredential.user_id.in_(user_ids), CardCredential.student_id.in_(student_ids)),
        )
        .order_by(CardCredential.id)
    ):
        if card.user_id is not None:
            cards[(PersonKind.USER, card.user_id)].append(card.uid_hash)
        elif card.student_id is not None:
            cards[(PersonKind.STUDENT, card.student_id)].append(card.uid_hash)
    return cards


def _revoked_passes(session: Session, now: datetime) -> list[str]:
    """Passes still valid on their face that a gate must refuse: revoked (also the old pass of
    a reissue), expired early by a person (the signed date inside is still later), or of a
    student who is no longer active."""
    return list(
        session.scalars(
            select(StudentPass.pass_ref)
            .outerjoin(Student, Student.id == StudentPass.student_id)
            .where(
                StudentPass.valid_until > now,
                or_(
                    StudentPass.revoked_at.is_not(None),
                    StudentPass.status.in_([PassStatus.REVOKED, PassStatus.EXPIRED]),
                    Student.status != StudentStatus.ACTIVE,
                ),
            )
            .order_by(StudentPass.pass_ref)
        )
    )


def _suspended_passes(session: Session, now: datetime) -> list[str]:
    """Passes on hold, still valid on their face: a gate refuses them as suspended."""
    return list(
        session.scalars(
            select(StudentPass.pass_ref)
            .where(
                StudentPass.valid_until > now,
                StudentPass.status == PassStatus.SUSPENDED,
                StudentPass.revoked_at.is_(None),
            )
            .order_by(StudentPass.pass_ref)
        )
    )


def _time_rules(session: Session, gate_ids: set[int]) -> dict[int, list[GateTimeRule]]:
    by_gate: dict[int, list[GateTimeRule]] = defaultdict(list)
    if gate_ids:
        for rule in session.scalars(
            select(GateTimeRule)
            .where(GateTimeRule.gate_id.in_(gate_ids))
            .order_by(GateTimeRule.gate_id, GateTimeRule.id)
        ):
            by_gate[rule.gate_id].append(rule)
    return by_gate


def _open(template: FaceTemplate | None, secret: SecretStr) -> bytes | None:
    """Stored templates in the shared format; None if there are none or they no longer open."""
    if template is None:
        return None
    key = derive_key(secret, KeyPurpose.FACE_TEMPLATES)
    try:
        descriptors = open_templates(template.sealed, key, str(template.user_id))
    except TemplateSealError:
        return None  # sealed under an old secret: the person must be enrolled again
    return pack_templates([[float(v) for v in row] for row in descriptors])
