"""The topic scheme `campus/v1/{site}/{device_id}/...`: topic strings are made and read only here.

campus/v1/{site}/{device_id}/evt/{kind}    device → coordinator, events (QoS 1)
campus/v1/{site}/{device_id}/state         device → all, retained birth / last-will death
campus/v1/{site}/{device_id}/cmd/{name}    coordinator → device
campus/v1/{site}/{device_id}/ack           device → coordinator, replies to commands
campus/v1/{site}/{device_id}/receipt       coordinator → device, what the ingest has committed
campus/v1/coordinator/{worker}             coordinator → all, retained online state / will

The coordinator's state topic has four levels, every device topic five or six, so no device
account (confined to `campus/v1/+/<its id>/...`) can ever write it.
"""

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from protocols.errors import ProtocolError
from protocols.ids import NAME_PATTERN
from protocols.messages import Envelope
from protocols.vocabulary import CommandName, EventKind

ROOT = "campus"
VERSION = "v1"
_NAME = re.compile(NAME_PATTERN)


class Channel(StrEnum):
    EVENT = "evt"
    STATE = "state"
    COMMAND = "cmd"
    ACK = "ack"
    RECEIPT = "receipt"


COORDINATOR_LEVEL = "coordinator"

_NAMES: dict[Channel, type[StrEnum] | None] = {
    Channel.EVENT: EventKind,
    Channel.STATE: None,
    Channel.COMMAND: CommandName,
    Channel.ACK: None,
    Channel.RECEIPT: None,
}
_CHANNELS = frozenset(channel.value for channel in Channel)
_VALUES = {
    channel: frozenset(member.value for member in vocabulary)
    for channel, vocabulary in _NAMES.items()
    if vocabulary is not None
}


@dataclass(frozen=True, slots=True)
class Topic:
    """A parsed topic. `name` is the event kind or command name; None for state and ack.

    Built only by `parse_topic` and the builders below, which check every level first (a plain
    dataclass: every message the coordinator receives is parsed into one)."""

    site: str
    device_id: str
    channel: Channel
    name: str | None = None

    def __str__(self) -> str:
        levels = [ROOT, VERSION, self.site, self.device_id, self.channel.value]
        return "/".join([*levels, self.name] if self.name else levels)


def event_topic(site: str, device_id: str, kind: EventKind) -> str:
    return str(_topic(site, device_id, Channel.EVENT, kind.value))


def state_topic(site: str, device_id: str) -> str:
    return str(_topic(site, device_id, Channel.STATE, None))


def command_topic(site: str, device_id: str, name: CommandName) -> str:
    return str(_topic(site, device_id, Channel.COMMAND, name.value))


def ack_topic(site: str, device_id: str) -> str:
    return str(_topic(site, device_id, Channel.ACK, None))


def receipt_topic(site: str, device_id: str) -> str:
    return str(_topic(site, device_id, Channel.RECEIPT, None))


def coordinator_state_topic(worker_id: str) -> str:
    """Where an ingest worker (named by its client id) keeps its retained online state."""
    if not _NAME.fullmatch(worker_id):
        raise ProtocolError(
            f"worker id {worker_id!r} is not valid: use 1-63 lowercase letters, digits, - or _"
        )
    return f"{ROOT}/{VERSION}/{COORDINATOR_LEVEL}/{worker_id}"


def coordinator_state_filter() -> str:
    """What every device subscribes to: the online state of every ingest worker."""
    return f"{ROOT}/{VERSION}/{COORDINATOR_LEVEL}/+"


def parse_coordinator_state_topic(topic: str) -> str | None:
    """The worker id of a coordinator state topic; None for any other topic."""
    levels = topic.split("/")
    if len(levels) != 4 or levels[:3] != [ROOT, VERSION, COORDINATOR_LEVEL]:
        return None
    return levels[3] if _NAME.fullmatch(levels[3]) else None


def parse_topic(topic: str, *, site: str | None = None, device_id: str | None = None) -> Topic:
    """Read a topic; refuse it, saying why, if it is not ours or not the expected sender's."""
    levels = topic.split("/")
    if len(levels) not in (5, 6) or levels[:2] != [ROOT, VERSION]:
        raise ProtocolError(
            f"topic {topic!r} is not campus/{VERSION}/{{site}}/{{device_id}}/{{channel}}[/{{name}}]"
        )
    channel_level = levels[4]
    if channel_level not in _CHANNELS:
        raise ProtocolError(f"topic {topic!r} has unknown channel {channel_level!r}")
    name = levels[5] if len(levels) == 6 else None
    parsed = _topic(levels[2], levels[3], Channel(channel_level), name)
    if site is not None and parsed.site != site:
        raise ProtocolError(f"topic {topic!r} is for site {parsed.site!r}, expected {site!r}")
    if device_id is not None and parsed.device_id != device_id:
        raise ProtocolError(
            f"topic {topic!r} belongs to device {parsed.device_id!r}, not {device_id!r}"
        )
    return parsed


def _topic(site: str, device_id: str, channel: Channel, name: str | None) -> Topic:
    for label, value in (("site", site), ("device id", device_id)):
        if not _NAME.fullmatch(value):
            raise ProtocolError(
                f"{label} {value!r} is not valid: use 1-63 lowercase letters, digits, - or _"
            )
    vocabulary = _NAMES[channel]
    if vocabulary is None and name is not None:
        raise ProtocolError(f"channel {channel.value!r} takes no further level, got {name!r}")
    if vocabulary is not None and name not in _VALUES[channel]:
        allowed = ", ".join(member.value for member in vocabulary)
        raise ProtocolError(f"channel {channel.value!r} needs one of {allowed}; got {name!r}")
    return Topic(site=site, device_id=device_id, channel=channel, name=name)


def topic_for(site: str, envelope: Envelope) -> str:
    """The topic an envelope is published on, chosen by its payload type."""
    payload_type = envelope.payload.type
    if payload_type in EventKind.__members__.values():
        return event_topic(site, envelope.device_id, EventKind(payload_type))
    if payload_type in CommandName.__members__.values():
        return command_topic(site, envelope.device_id, CommandName(payload_type))
    if payload_type in ("birth", "death"):
        return state_topic(site, envelope.device_id)
    if payload_type == "receipt":
        return receipt_topic(site, envelope.device_id)
    if payload_type == "coordinator_state":
        return coordinator_state_topic(envelope.device_id)
    return ack_topic(site, envelope.device_id)


# --- subscription filters and broker access rules -----------------------------------------------


def fleet_filters(site: str | None = None) -> list[str]:
    """What the coordinator subscribes to: every device's events, state and acks."""
    site_level = site or "+"
    prefix = f"{ROOT}/{VERSION}/{site_level}/+"
    return [
        f"{prefix}/{Channel.EVENT.value}/+",
        f"{prefix}/{Channel.STATE.value}",
        f"{prefix}/{Channel.ACK.value}",
    ]


def device_receipt_filter(site: str, device_id: str) -> str:
    """What a device subscribes to for its receipts (a topic, no wildcard)."""
    return receipt_topic(site, device_id)


def device_command_filter(site: str, device_id: str) -> str:
    """What a device subscribes to: its own commands."""
    own = _topic(site, device_id, Channel.STATE, None)
    return f"{ROOT}/{VERSION}/{own.site}/{own.device_id}/{Channel.COMMAND.value}/+"


def shared_filter(group: str, topic_filter: str) -> str:
    """An MQTT v5 shared subscription: the broker gives each message to one member of the group."""
    if not _NAME.fullmatch(group):
        raise ProtocolError(f"share group {group!r} is not valid")
    return f"$share/{group}/{topic_filter}"


AclAccess = Literal["read", "write", "readwrite"]


def device_acl_patterns() -> list[tuple[AclAccess, str]]:
    """Mosquitto `pattern` rules that confine a device (username = device id) to its own topics,
    plus reading the coordinator's online state, which every device may read."""
    own = f"{ROOT}/{VERSION}/+/%u"
    return [
        ("write", f"{own}/{Channel.EVENT.value}/+"),
        ("readwrite", f"{own}/{Channel.STATE.value}"),
        ("write", f"{own}/{Channel.ACK.value}"),
        ("read", f"{own}/{Channel.COMMAND.value}/+"),
        ("read", f"{own}/{Channel.RECEIPT.value}"),
        ("read", coordinator_state_filter()),
    ]


def coordinator_acl_topics() -> list[tuple[AclAccess, str]]:
    """Mosquitto `topic` rules for the coordinator's own account: all of the fleet."""
    return [("readwrite", f"{ROOT}/{VERSION}/#")]
