"""Hypothesis strategies for every wire message, built from the same constraints as the models."""

import base64
import string
from datetime import datetime
from typing import Any

from hypothesis import strategies as st

from protocols import messages as m
from protocols import vocabulary as v

# Any character a text column can hold: everything but NUL and lone surrogates.
storable = st.characters(exclude_characters="\x00", exclude_categories=["Cs"])
names = st.from_regex(r"\A[a-z0-9][a-z0-9_-]{0,20}\Z")
refs = st.text(storable, min_size=1, max_size=64)
details = st.none() | st.text(storable, max_size=500)
short_text = st.text(alphabet=string.printable, max_size=40)
fractions = st.floats(min_value=0, max_value=1)
distances = st.none() | st.floats(min_value=0, max_value=10)
versions = st.none() | st.integers(min_value=0, max_value=m.INT32_MAX)
# A day inside the protocol's bounds, so that any time zone keeps the UTC time inside them.
aware_times = st.datetimes(
    min_value=datetime(1970, 1, 2), max_value=datetime(8999, 12, 30), timezones=st.timezones()
)

health = st.builds(
    m.Health,
    cpu_temp_c=st.none() | st.floats(min_value=-40, max_value=150),
    load_1m=st.floats(min_value=0, max_value=64),
    disk_free_bytes=st.integers(min_value=0, max_value=m.INT64_MAX),
    memory_used_pct=st.floats(min_value=0, max_value=100),
    clock_sync=st.sampled_from(v.ClockSync),
    agent_version=short_text,
    bundle_version=versions,
    outbox_depth=st.integers(min_value=0, max_value=m.INT32_MAX),
    coordinator_online=st.none() | st.booleans(),
)

PAYLOADS: dict[type[m.WireModel], st.SearchStrategy[Any]] = {
    m.Birth: st.builds(
        m.Birth, agent_version=short_text, profile=short_text, bundle_version=versions
    ),
    m.Death: st.builds(m.Death, cause=st.sampled_from(v.DeathCause)),
    m.Heartbeat: st.builds(m.Heartbeat, health=health),
    m.Attendance: st.builds(
        m.Attendance,
        action=st.sampled_from(v.AttendanceAction),
        person_ref=refs,
        assignment_ref=st.none() | refs,
        face_distance=distances,
    ),
    m.Attempt: st.builds(
        m.Attempt,
        station=st.sampled_from(v.Station),
        credential=st.sampled_from(v.Credential),
        outcome=st.sampled_from(v.Outcome),
        reason=st.sampled_from(v.ReasonCode),
        subject_ref=st.none() | refs,
        face_distance=distances,
        detail=details,
    ),
    m.Access: st.builds(
        m.Access,
        decision=st.sampled_from(v.AccessDecision),
        reason=st.sampled_from(v.ReasonCode),
        direction=st.sampled_from(v.Direction),
        credential=st.sampled_from(v.Credential),
        subject_ref=st.none() | refs,
        pass_ref=st.none() | refs,
    ),
    m.Violation: st.builds(
        m.Violation,
        violation_type=st.sampled_from(v.ViolationType),
        severity=st.sampled_from(v.Severity),
        confidence=fractions,
        subject_ref=st.none() | refs,
        evidence_ref=st.none() | st.text(storable, max_size=200),
        detail=details,
    ),
    m.OpenDoor: st.builds(
        m.OpenDoor,
        command_id=st.uuids(),
        hold_s=st.floats(0.1, 30),
        expires_at=st.none() | aware_times,
    ),
    m.Passage: st.builds(
        m.Passage,
        holder_ref=refs,
        pass_ref=st.none() | refs,
        direction=st.sampled_from(v.Direction),
        at=aware_times,
        gate_device_id=names,
        expires_at=st.none() | aware_times,
    ),
    m.Reboot: st.builds(m.Reboot, command_id=st.uuids(), reason=st.text(storable, max_size=500)),
    m.ConfigChange: st.builds(
        m.ConfigChange,
        command_id=st.uuids(),
        settings=st.dictionaries(
            st.text(storable, max_size=64),
            st.text(storable, max_size=20)
            | st.integers()
            | st.floats(allow_nan=False, allow_infinity=False)
            | st.booleans(),
            max_size=5,
        ),
    ),
    m.SignedBundle: st.builds(
        m.SignedBundle,
        key_id=st.none() | st.from_regex(r"\A[A-Za-z0-9_-]{1,64}\Z"),
        signature=st.none()
        | st.binary(min_size=64, max_size=64).map(lambda raw: base64.b64encode(raw).decode()),
        body=st.text(storable, max_size=300),
    ),
    m.CommandResult: st.builds(
        m.CommandResult,
        command_id=st.uuids(),
        status=st.sampled_from(v.CommandStatus),
        detail=details,
    ),
    m.BundleAck: st.builds(
        m.BundleAck,
        bundle_version=st.integers(min_value=0, max_value=m.INT32_MAX),
        status=st.sampled_from(v.BundleStatus),
        reason=details,
        refusal=st.none() | st.sampled_from(v.BundleRefusal),
        content_hash=st.none() | st.from_regex(r"\A[0-9a-f]{64}\Z"),
    ),
    m.Receipt: st.builds(
        m.Receipt, message_ids=st.lists(st.uuids(), min_size=1, max_size=m.MAX_RECEIPT_IDS)
    ),
    m.CoordinatorState: st.builds(m.CoordinatorState, status=st.sampled_from(v.CoordinatorStatus)),
}

any_payload = st.one_of(*PAYLOADS.values())


@st.composite
def envelopes(draw: st.DrawFn, payload: st.SearchStrategy[Any] = any_payload) -> m.Envelope:
    return m.Envelope(
        message_id=draw(st.uuids()),
        device_id=draw(names),
        boot_id=draw(st.uuids()),
        seq=draw(st.integers(min_value=0, max_value=m.INT32_MAX)),
        device_time=draw(aware_times),
        monotonic_ns=draw(st.integers(min_value=0, max_value=m.INT64_MAX)),
        replayed=draw(st.booleans()),
        payload=draw(payload),
    )
