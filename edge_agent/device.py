"""One device's runtime parts, opened in order and closed in reverse."""

import queue
from dataclasses import dataclass

from edge_agent import __version__
from edge_agent.config import AgentConfig
from edge_agent.health import sample_health
from edge_agent.link.mqtt import MqttLink
from edge_agent.store.outbox import Outbox
from edge_agent.uplink import Uplink, UplinkEvent, last_will
from protocols import Birth, Heartbeat, Sender


@dataclass
class Device:
    """A running device: its config, outbox and uplink. Stations record events through `uplink`."""

    config: AgentConfig
    outbox: Outbox
    uplink: Uplink

    def send_heartbeat(self) -> None:
        health = sample_health(
            data_dir=self.config.data_dir,
            agent_version=__version__,
            bundle_version=None,
            outbox_depth=self.outbox.count(),
        )
        self.uplink.record(Heartbeat(health=health))

    def close(self) -> None:
        self.uplink.stop()
        self.outbox.close()


def open_device(config: AgentConfig) -> Device:
    """Open the outbox, then start the link: nothing can be recorded before it can be kept."""
    outbox = Outbox(config.outbox_path)
    sender = Sender(config.device_id)
    events: queue.Queue[UplinkEvent] = queue.Queue()
    link = MqttLink(config.broker, config.device_id, last_will(config.site, sender), events.put)
    uplink = Uplink(
        site=config.site,
        sender=sender,
        outbox=outbox,
        link=link,
        birth=Birth(agent_version=__version__, profile=config.profile),
        events=events,
        max_message_bytes=config.max_message_bytes,
    )
    uplink.start()
    return Device(config=config, outbox=outbox, uplink=uplink)
