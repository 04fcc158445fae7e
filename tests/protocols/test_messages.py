"""Every message survives the wire unchanged; anything malformed is one clear ProtocolError."""

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols import Birth, ProtocolError, decode, encode
from protocols.messages import MESSAGE_TYPES, Envelope
from tests.protocols.strategies import PAYLOADS, envelopes


def test_every_message_type_has_a_strategy() -> None:
    assert set(PAYLOADS) == set(MESSAGE_TYPES)


@pytest.mark.parametrize("model", MESSAGE_TYPES, ids=lambda model: model.__name__)
@given(data=st.data())
def test_each_message_round_trips(model: type, data: st.DataObject) -> None:
    envelope = data.draw(envelopes(PAYLOADS[model]))
    decoded = decode(encode(envelope))
    assert decoded == envelope
    assert type(decoded.payload) is model


@given(envelopes())
def test_encoding_is_utf8_json(envelope: Envelope) -> None:
    document = json.loads(encode(envelope).decode("utf-8"))
    assert document["payload"]["type"] == envelope.payload.type
    assert document["device_time"].endswith("Z")


@given(st.binary(max_size=300))
def test_arbitrary_bytes_raise_only_protocol_error(data: bytes) -> None:
    try:
        decode(data)
    except ProtocolError as error:
        assert str(error)


def _valid_document() -> dict[str, object]:
    return {
        "message_id": "01a1fea4-8a55-7b9c-a121-37f208373b58",
        "device_id": "door-01",
        "boot_id": "01a1fea4-8a49-7ff2-9bd2-a054d6603016",
        "seq": 1,
        "device_time": "2026-11-21T10:00:00Z",
        "monotonic_ns": 5,
        "payload": {"type": "death", "cause": "shutdown"},
    }


def _with(**changes: object) -> bytes:
    document = _valid_document() | changes
    return json.dumps({k: v for k, v in document.items() if v is not None}).encode()


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b"\xff\xfe{}", "not UTF-8"),
        (b"{not json", "Invalid JSON"),
        (_with(seq=None), "seq: Field required"),
        (_with(seq=-1), "seq: Input should be greater than or equal to 0"),
        (_with(colour="red"), "colour: Extra inputs are not permitted"),
        (_with(device_id="Door 01"), "device_id: String should match pattern"),
        (_with(device_time="2026-11-21T10:00:00"), "device_time: Input should have timezone"),
        (_with(payload={"type": "party"}), "payload: Input tag 'party' found using 'type'"),
        (_with(payload={"type": "death", "cause": "?"}), "payload.death.cause: Input should be"),
        (_with(schema_version=2), "schema_version: Input should be 1"),
        # Values a receiver cannot store or compute with: refused here, not a crash later.
        (_with(seq=2**31), "seq: Input should be less than or equal to 2147483647"),
        (_with(monotonic_ns=2**63), "monotonic_ns: Input should be less than or equal to"),
        (_with(device_time="0001-01-01T00:00:00+14:00"), "device_time: Value error, time is"),
        (_with(device_time="9999-12-31T23:59:59-10:00"), "device_time: Value error, time is"),
        (_with(device_time="1969-12-31T23:59:59Z"), "time must be between 1970-01-01"),
        (_with(payload={"type": "death", "cause": "shutdown\u0000"}), "payload.death.cause"),
        (
            _with(payload={"type": "birth", "agent_version": "1\u0000", "profile": "p"}),
            "agent_version: Value error, text must not contain NUL",
        ),
        (
            _with(payload={"type": "bundle_ack", "bundle_version": 2**31, "status": "applied"}),
            "bundle_version: Input should be less than or equal to 2147483647",
        ),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_malformed_messages_say_what_is_wrong(data: bytes, says: str) -> None:
    with pytest.raises(ProtocolError) as raised:
        decode(data)
    assert says in str(raised.value)
    assert isinstance(raised.value, ValueError)


def test_messages_over_the_size_limit_are_refused_both_ways() -> None:
    envelope = decode(_with())
    with pytest.raises(ProtocolError, match="over the limit of 100"):
        encode(envelope, max_bytes=100)
    with pytest.raises(ProtocolError, match="over the limit of 100"):
        decode(_with(), max_bytes=100)


def test_times_are_normalised_to_utc() -> None:
    envelope = decode(_with(device_time="2026-11-21T12:00:00+02:00"))
    assert envelope.device_time.isoformat() == "2026-11-21T10:00:00+00:00"


def test_messages_are_frozen() -> None:
    envelope = decode(_with())
    with pytest.raises(ValueError, match="frozen"):
        envelope.seq = 7  # type: ignore[misc]


def test_non_finite_numbers_are_refused_because_json_cannot_carry_them() -> None:
    from uuid import uuid4

    from protocols import ConfigChange

    with pytest.raises(ValueError, match="finite number"):
        ConfigChange(command_id=uuid4(), settings={"gain": float("inf")})


@pytest.mark.parametrize(
    ("text", "says"),
    [("a\x00b", "must not contain NUL"), ("\ud800", "unable to parse raw data as a unicode")],
    ids=["NUL", "lone surrogate"],
)
def test_text_a_database_cannot_hold_is_refused_when_built(text: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        Birth(agent_version="1", profile=text)
