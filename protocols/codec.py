"""Bytes on the wire: UTF-8 JSON envelopes under a size limit, checked against their topic."""

from typing import Any, get_args

from pydantic import ValidationError

from protocols.errors import ProtocolError
from protocols.messages import (
    AckPayload,
    CommandPayload,
    CoordinatorState,
    Envelope,
    EventPayload,
    Receipt,
    StatePayload,
)
from protocols.topics import Channel, Topic, parse_coordinator_state_topic

DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024


# Which payload types each channel may carry; for evt and cmd the topic's last level must also
# equal the payload type, so a heartbeat cannot arrive on .../evt/attendance.
def _payload_types(union: Any) -> frozenset[str]:
    return frozenset(model.model_fields["type"].default for model in get_args(union))


_CHANNEL_PAYLOADS: dict[Channel, frozenset[str]] = {
    Channel.EVENT: _payload_types(EventPayload),
    Channel.STATE: _payload_types(StatePayload),
    Channel.COMMAND: _payload_types(CommandPayload),
    Channel.ACK: _payload_types(AckPayload),
    Channel.RECEIPT: frozenset({Receipt.model_fields["type"].default}),
}


def encode(envelope: Envelope, *, max_bytes: int = DEFAULT_MAX_MESSAGE_BYTES) -> bytes:
    data = envelope.model_dump_json().encode()
    if len(data) > max_bytes:
        raise ProtocolError(f"message is {len(data)} bytes, over the limit of {max_bytes}")
    return data


def decode(data: bytes, *, max_bytes: int = DEFAULT_MAX_MESSAGE_BYTES) -> Envelope:
    """Parse one envelope; anything malformed raises ProtocolError saying what was wrong."""
    if len(data) > max_bytes:
        raise ProtocolError(f"message is {len(data)} bytes, over the limit of {max_bytes}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ProtocolError(f"message is not UTF-8: byte {error.start} is invalid") from None
    try:
        return Envelope.model_validate_json(text)
    except ValidationError as error:
        raise ProtocolError(f"message is not a valid envelope: {_summary(error)}") from None


def decode_on_topic(
    topic: Topic, data: bytes, *, max_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
) -> Envelope:
    """Parse an envelope and refuse it if it does not belong on the topic it came on."""
    envelope = decode(data, max_bytes=max_bytes)
    if envelope.device_id != topic.device_id:
        raise ProtocolError(
            f"envelope is from device {envelope.device_id!r}"
            f" but came on the topic of {topic.device_id!r}"
        )
    payload_type = envelope.payload.type
    if payload_type not in _CHANNEL_PAYLOADS[topic.channel] or (
        topic.name is not None and topic.name != payload_type
    ):
        raise ProtocolError(f"a {payload_type!r} message does not belong on topic {topic}")
    return envelope


def decode_coordinator_state(
    topic: str, data: bytes, *, max_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
) -> tuple[str, Envelope, CoordinatorState]:
    """Read a worker's state message: (worker id, envelope, state); refuse anything else."""
    worker_id = parse_coordinator_state_topic(topic)
    if worker_id is None:
        raise ProtocolError(f"topic {topic!r} is not a coordinator state topic")
    envelope = decode(data, max_bytes=max_bytes)
    if not isinstance(envelope.payload, CoordinatorState):
        raise ProtocolError(f"a {envelope.payload.type!r} message does not belong on {topic}")
    if envelope.device_id != worker_id:
        raise ProtocolError(
            f"state of worker {envelope.device_id!r} came on the topic of {worker_id!r}"
        )
    return worker_id, envelope, envelope.payload


def _summary(error: ValidationError, limit: int = 3) -> str:
    problems = [
        f"{'.'.join(str(part) for part in item['loc']) or 'message'}: {item['msg']}"
        for item in error.errors(include_url=False)[:limit]
    ]
    more = error.error_count() - limit
    return "; ".join(problems) + (f" (and {more} more)" if more > 0 else "")
