"""What every station's runtime shares (door: `runtime.py`, gate: `gate_runtime.py`).

The uplink on the outbox and its command subscription, and heartbeats. The uplink itself
subscribes to the device's receipts and to the coordinator's online state, handles both, and
stamps each heartbeat with whether the coordinator is online and the clock offset estimated from
the coordinator's state messages (issue 9 item 5). The offset a runtime learns from live
commands (`note_command`) is only the fallback a heartbeat carries before the device has heard
a live state message.
"""

import logging
import queue
from collections.abc import Callable
from datetime import datetime

from edge_agent import __version__
from edge_agent.clock import ClockOffset
from edge_agent.config import AgentConfig
from edge_agent.health import sample_health
from edge_agent.link.base import Link, LinkEvent, Received, Will
from edge_agent.link.downlink import MAX_BUNDLE_MESSAGE_BYTES
from edge_agent.store.outbox import Outbox
from edge_agent.uplink import Uplink, UplinkEvent, last_will
from protocols import (
    Birth,
    Heartbeat,
    ProtocolError,
    Sender,
    decode_on_topic,
    device_command_filter,
    parse_topic,
)

log = logging.getLogger(__name__)

SERVE_SLICE_S = 0.2  # how long a station's loop waits for a card or code before its other chores

LinkFactory = Callable[[Will, Callable[[LinkEvent], object]], Link]


def real_link(config: AgentConfig) -> LinkFactory:
    def make(will: Will, notify: Callable[[LinkEvent], object]) -> Link:
        from edge_agent.link.mqtt import MqttLink  # noqa: PLC0415 - paho only where needed

        return MqttLink(config.broker, config.device_id, will, notify)

    return make


def make_uplink(
    config: AgentConfig,
    outbox: Outbox,
    *,
    profile_name: str,
    make_link: LinkFactory | None,
    is_clock_synced: Callable[[], bool | None],
    when_received: Callable[[Received], None],
) -> Uplink:
    """The device's uplink on its outbox, not yet started: whatever handles commands (the
    downlink) must exist before `start_uplink` subscribes, or a retained bundle could arrive
    to nobody."""
    sender = Sender(config.device_id, is_clock_synced=lambda: is_clock_synced() is True)
    events: queue.Queue[UplinkEvent] = queue.Queue()
    link_factory = make_link or real_link(config)
    uplink = Uplink(
        site=config.site,
        sender=sender,
        outbox=outbox,
        link=link_factory(last_will(config.site, sender), events.put),
        birth=Birth(agent_version=__version__, profile=profile_name),
        events=events,
        max_message_bytes=config.max_message_bytes,
        when_received=when_received,
    )
    return uplink


def start_uplink(uplink: Uplink, config: AgentConfig) -> None:
    """Subscribe to the device's own commands and start sending."""
    uplink.subscribe(device_command_filter(config.site, config.device_id))
    uplink.start()


def heartbeat(
    config: AgentConfig, outbox: Outbox, bundle_version: int | None, clock_offset: ClockOffset
) -> Heartbeat:
    health = sample_health(
        data_dir=config.data_dir,
        agent_version=__version__,
        bundle_version=bundle_version,
        outbox_depth=outbox.count(),
        outbox_full=outbox.is_full,
        clock_offset_s=clock_offset.seconds,
    )
    return Heartbeat(health=health)


def note_command(
    config: AgentConfig, message: Received, clock_offset: ClockOffset, now: datetime
) -> None:
    """The fallback clock offset learns from live messages on the device's own topics (bundles
    included, hence their larger size limit) until the coordinator's state messages give the
    uplink its own estimate; acting on a command is the downlink's part."""
    try:
        topic = parse_topic(message.topic, site=config.site, device_id=config.device_id)
        envelope = decode_on_topic(topic, message.body, max_bytes=MAX_BUNDLE_MESSAGE_BYTES)
    except ProtocolError as error:
        log.warning("ignored a message on %s: %s", message.topic, error)
        return
    clock_offset.observe(envelope.device_time, now, retained=message.retained)
