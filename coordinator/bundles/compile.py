"""Compiling one device's bundle from the database: pure reading, no writes.

Secrets are re-sealed for the device on the way out: the card-hash key and each person's face
templates are opened here (they rest sealed under the coordinator's secret) and sealed to the
device's registered X25519 key, bound to the device, the purpose and the person.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.orm import Session

from coordinator.bundles.keys import trusted_keys
from coordinator.core.keys import KeyPurpose, derive_key
from coordinator.db.enums import StudentStatus
from coordinator.db.models import (
    Assignment,
    CardCredential,
    Device,
    Exam,
    ExamSession,
    FaceTemplate,
    Gate,
    Room,
    SessionEnrolment,
    Site,
    Student,
    StudentPass,
    User,
)
from coordinator.enrolment import TemplateSealError, open_templates
from coordinator.errors import ConflictError
from coordinator.services.downlink import ON_ROSTER
from protocols import ProtocolError, Station
from protocols.bundle import (
    Bundle,
    BundleSession,
    DeviceBinding,
    GateRules,
    Geofence,
    PersonKind,
    PublicKey,
    RosterEntry,
    RosterRole,
    RosterSession,
    SealedTemplates,
    person_ref,
)
from protocols.sealing import context, read_public_key, seal
from protocols.templates import pack_templates

CARD_KEY_PURPOSE = "card-key"
TEMPLATES_PURPOSE = "face-templates"


class BundleBuildError(ConflictError):
    """A device's bundle cannot be built until someone fixes the cause named in the message."""


@dataclass(frozen=True)
class BuildRules:
    """What goes into a bundle besides the records: how far ahead, and the check-in window."""

    horizon: timedelta
    check_in_before: timedelta
    check_in_after: timedelta


@dataclass(frozen=True)
class Signing:
    key_id: str
    trusted: list[PublicKey]


def compile_bundle(
    session: Session,
    device: Device,
    *,
    version: int,
    now: datetime,
    rules: BuildRules,
    signing: Signing,
    secret: SecretStr,
) -> Bundle:
    if not device.public_key:
        raise BundleBuildError(
            f"device {device.id} has no registered key: run `edge-agent keys init` on it and "
            "register the public key (POST /api/v1/devices/{id}/key)"
        )
    try:
        device_key = read_public_key(device.public_key)
    except ProtocolError as error:
        raise BundleBuildError(f"device {device.id}: {error}") from None
    site = session.get_one(Site, device.site_id)
    binding, gate = _binding(session, device, site)
    sessions = _sessions(session, device, now, rules)
    roster = _roster(session, device, sessions, device_key, secret)
    card_key = derive_key(secret, KeyPurpose.CARD_UIDS)
    return Bundle(
        device_id=device.id,
        version=version,
        issued_at=now,
        valid_until=now + rules.horizon,
        key_id=signing.key_id,
        binding=binding,
        sessions=[item for item, _ in sessions],
        roster=roster,
        card_key=seal(card_key, device_key, context(device.id, CARD_KEY_PURPOSE)),
        gate=_gate_rules(session, gate, site, now) if gate else None,
        signing_keys=signing.trusted,
    )


def _geofence(place: Room | Gate) -> Geofence | None:
    if place.latitude is None or place.longitude is None or place.geofence_radius_m is None:
        return None
    return Geofence(
        latitude=place.latitude, longitude=place.longitude, radius_m=place.geofence_radius_m
    )


def _binding(session: Session, device: Device, site: Site) -> tuple[DeviceBinding, Gate | None]:
    if device.room_id is not None:
        room = session.get_one(Room, device.room_id)
        binding = DeviceBinding(
            station=Station.DOOR,
            site=site.code,
            room_ref=str(room.id),
            place_name=room.name,
            geofence=_geofence(room),
        )
        return binding, None
    if device.gate_id is not None:
        gate = session.get_one(Gate, device.gate_id)
        binding = DeviceBinding(
            station=Station.GATE,
            site=site.code,
            gate_ref=str(gate.id),
            place_name=gate.name,
            geofence=_geofence(gate),
        )
        return binding, gate
    raise BundleBuildError(f"device {device.id} is placed at no room or gate: give it one")


def _sessions(
    session: Session, device: Device, now: datetime, rules: BuildRules
) -> list[tuple[BundleSession, int]]:
    if device.room_id is None:
        return []
    rows = session.execute(
        select(ExamSession, Exam.code)
        .join(Exam, Exam.id == ExamSession.exam_id)
        .where(
            ExamSession.room_id == device.room_id,
            ExamSession.ends_at > now,
            ExamSession.starts_at < now + rules.horizon,
        )
        .order_by(ExamSession.starts_at)
    ).all()
    return [
        (
            BundleSession(
                session_ref=str(row.id),
                exam_code=code,
                starts_at=row.starts_at,
                ends_at=row.ends_at,
                check_in_opens_at=row.starts_at - rules.check_in_before,
                check_in_closes_at=min(row.starts_at + rules.check_in_after, row.ends_at),
            ),
            row.id,
        )
        for row, code in rows
    ]


def _roster(
    session: Session,
    device: Device,
    sessions: list[tuple[BundleSession, int]],
    device_key: X25519PublicKey,
    secret: SecretStr,
) -> list[RosterEntry]:
    session_ids = [session_id for _, session_id in sessions]
    if not session_ids:
        return []
    expected: dict[tuple[PersonKind, int], list[RosterSession]] = defaultdict(list)
    for assignment in session.scalars(
        select(Assignment).where(
            Assignment.session_id.in_(session_ids), Assignment.status.in_(ON_ROSTER)
        )
    ):
        expected[(PersonKind.USER, assignment.supervisor_id)].append(
            RosterSession(session_ref=str(assignment.session_id), assignment_ref=str(assignment.id))
        )
    for enrolment in session.scalars(
        select(SessionEnrolment).where(SessionEnrolment.session_id.in_(session_ids))
    ):
        expected[(PersonKind.STUDENT, enrolment.student_id)].append(
            RosterSession(session_ref=str(enrolment.session_id))
        )
    return _people(session, device, expected, device_key, secret)


def _people(
    session: Session,
    device: Device,
    expected: dict[tuple[PersonKind, int], list[RosterSession]],
    device_key: X25519PublicKey,
    secret: SecretStr,
) -> list[RosterEntry]:
    user_ids = [i for kind, i in expected if kind is PersonKind.USER]
    student_ids = [i for kind, i in expected if kind is PersonKind.STUDENT]
    users = {u.id: u for u in session.scalars(select(User).where(User.id.in_(user_ids)))}
    students = {
        s.id: s for s in session.scalars(select(Student).where(Student.id.in_(student_ids)))
    }
    cards: dict[tuple[PersonKind, int], list[str]] = defaultdict(list)
    for card in session.scalars(
        select(CardCredential).where(
            CardCredential.is_active.is_(True),
            (CardCredential.user_id.in_(user_ids)) | (CardCredential.student_id.in_(student_ids)),
        )
    ):
        owner = (
            (PersonKind.USER, card.user_id)
            if card.user_id is not None
            else (PersonKind.STUDENT, card.student_id or 0)
        )
        cards[owner].append(card.uid_hash)
    templates = {
        t.user_id: t
        for t in session.scalars(select(FaceTemplate).where(FaceTemplate.user_id.in_(user_ids)))
    }
    entries = []
    for (kind, record_id), sessions in sorted(expected.items()):
        if kind is PersonKind.USER:
            user = users.get(record_id)
            if user is None or not user.is_active:
                continue
            name, role = user.full_name, RosterRole.SUPERVISOR
        else:
            student = students.get(record_id)
            if student is None or student.status is not StudentStatus.ACTIVE:
                continue
            name, role = student.full_name, RosterRole.STUDENT
        ref = person_ref(kind, record_id)
        template = templates.get(record_id) if kind is PersonKind.USER else None
        entries.append(
            RosterEntry(
                person_ref=ref,
                role=role,
                name=name[:200],
                card_hashes=cards[(kind, record_id)][:16],
                templates=_reseal(template, device, ref, device_key, secret) if template else None,
                sessions=sessions,
            )
        )
    return entries


def _reseal(
    template: FaceTemplate, device: Device, ref: str, device_key: X25519PublicKey, secret: SecretStr
) -> SealedTemplates | None:
    """Open the stored templates and seal them to the device; None if they no longer open."""
    key = derive_key(secret, KeyPurpose.FACE_TEMPLATES)
    try:
        descriptors = open_templates(template.sealed, key, str(template.user_id))
    except TemplateSealError:
        return None  # sealed under an old secret: the person must be enrolled again
    plaintext = pack_templates([[float(v) for v in row] for row in descriptors])
    return SealedTemplates(
        model=template.model,
        sealed=seal(plaintext, device_key, context(device.id, TEMPLATES_PURPOSE, ref)),
    )


def _gate_rules(session: Session, gate: Gate, site: Site, now: datetime) -> GateRules:
    revoked = session.scalars(
        select(StudentPass.pass_ref)
        .outerjoin(Student, Student.id == StudentPass.student_id)
        .where(
            StudentPass.valid_until > now,
            (StudentPass.revoked_at.is_not(None)) | (Student.status != StudentStatus.ACTIVE),
        )
        .order_by(StudentPass.pass_ref)
    )
    return GateRules(
        zone=gate.zone,
        time_zone=site.time_zone,
        pass_keys=trusted_keys(session),  # passes are signed by the site's signing keys
        revoked_passes=list(revoked),
    )
