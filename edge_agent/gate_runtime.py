"""A gate station's runtime: the door runtime's shape, with the gate's parts and store.

    store (outbox, anti-passback, bundle) → hardware → link (with the downlink) → station

The loop reads the QR scanner (briefly, so it stays responsive) and the card reader, decides,
and between presentations sends heartbeats and pings systemd's watchdog, as the door's does.
Bundles and commands arrive through the same `Downlink` as a door's (edge_agent.link.downlink),
opened before the link subscribes; a bundle it applies is the book of the next presentation,
and passages other gates of the site granted feed this gate's anti-passback store.
`run_station` is what `edge-agent run` calls: it serves the profile's kind of station.
"""

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from edge_agent.app import App, Step
from edge_agent.clock import ClockOffset, kernel_clock_synced
from edge_agent.config import AgentConfig
from edge_agent.errors import ConfigError
from edge_agent.hardware.factory import StationParts, build_parts
from edge_agent.link.base import Received
from edge_agent.link.downlink import CommandRefusedError, Downlink, held_bundle, open_downlink
from edge_agent.profile import GateStationProfile, load_profile
from edge_agent.remote_config import GATE_SETTINGS, RemoteSettings, SettingsFile, Tunables, Value
from edge_agent.runtime import (
    BUNDLE_STORE_FILE,
    DEVICE_KEY_FILE,
    read_bundle_file,
    run_door_station,
)
from edge_agent.station_runtime import (
    SERVE_SLICE_S,
    LinkFactory,
    heartbeat,
    make_uplink,
    note_command,
    start_uplink,
)
from edge_agent.stations.gate import GateOutputs, GateSettings, GateStation
from edge_agent.stations.gate_book import GateBook, open_gate_book
from edge_agent.stations.passback import PassbackStore
from edge_agent.store.bundle import BundleStore
from edge_agent.store.device_key import load_device_key
from edge_agent.store.outbox import Outbox
from edge_agent.systemd import Every, Notifier
from edge_agent.uplink import Uplink
from protocols import Passage, Station
from protocols.bundle import Bundle

log = logging.getLogger(__name__)

PASSBACK_FILE = "passback.sqlite3"


def gate_outputs(parts: StationParts) -> GateOutputs:
    """The gate's outputs from the parts the profile built; a gate without a relay is refused."""
    if parts.relay is None:
        raise ConfigError("a gate station needs pins.relay in its firmware profile; add it")
    return GateOutputs(
        relay=parts.relay,
        green=parts.leds.get("green"),
        red=parts.leds.get("red"),
        buzzer=parts.buzzer,
    )


@dataclass
class GateAgent:
    """One gate station's runtime; `app()` gives its start/stop steps, `serve_until` its loop.

    `book` is read on every pass of the loop, so a new bundle takes effect on the next code;
    a bundle the downlink applies replaces it.
    """

    config: AgentConfig
    profile: GateStationProfile
    book: Callable[[], GateBook | None] = lambda: None
    make_link: LinkFactory | None = None
    make_parts: Callable[[GateStationProfile], StationParts] = build_parts
    notifier: Notifier = field(default_factory=Notifier)
    wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    monotonic: Callable[[], float] = time.monotonic
    is_clock_synced: Callable[[], bool | None] = kernel_clock_synced
    clock_offset: ClockOffset = field(default_factory=ClockOffset)

    outbox: Outbox | None = None
    passback: PassbackStore | None = None
    bundles: BundleStore | None = None
    downlink: Downlink | None = None
    remote: RemoteSettings | None = None
    parts: StationParts | None = None
    uplink: Uplink | None = None
    station: GateStation | None = None
    stop_requested: threading.Event | None = None
    _heartbeat: Every | None = None

    def app(self) -> App:
        return App(
            [
                Step("store", self.open_store, self.close_store),
                Step("hardware", self.start_hardware, self.stop_hardware),
                Step("link", self.start_link, self.stop_link),
                Step("station", self.start_station),
            ]
        )

    # --- steps -------------------------------------------------------------------------------

    def open_store(self) -> None:
        self.outbox = Outbox(self.config.outbox_path, max_items=self.config.outbox_max_items)
        self.passback = PassbackStore(self.config.data_dir / PASSBACK_FILE)
        self.bundles = BundleStore(self.config.data_dir / BUNDLE_STORE_FILE)
        held = held_bundle(self.bundles, self._key_path)
        if held is not None:
            self._use_bundle(held)  # the bundle in force survives restarts and outages
        base = Tunables(self.config, self.profile.thresholds)
        self.remote = RemoteSettings(base, GATE_SETTINGS, SettingsFile(self.config.data_dir))
        self._take(self.remote.current)

    def close_store(self) -> None:
        for store in (self.bundles, self.passback, self.outbox):
            if store is not None:
                store.close()

    def start_hardware(self) -> None:
        self.parts = self.make_parts(self.profile)

    def stop_hardware(self) -> None:
        if self.parts is not None:
            self.parts.close()

    def start_link(self) -> None:
        assert self.outbox is not None
        self.uplink = make_uplink(
            self.config,
            self.outbox,
            profile_name=self.profile.name,
            make_link=self.make_link,
            is_clock_synced=self.is_clock_synced,
            when_received=self._when_received,
        )
        self.downlink = open_downlink(
            self.config.device_id,
            key_path=self._key_path,
            store=self.bundles,
            record=self.uplink.record,
            actions=GateCommands(self),
            clock=self.wall_clock,
            when_applied=self._use_bundle,
            station=Station.GATE,
            vet=self._book_of,
        )
        start_uplink(self.uplink, self.config)

    @property
    def _key_path(self) -> Path:
        return self.config.data_dir / DEVICE_KEY_FILE

    def _book_of(self, bundle: Bundle) -> GateBook:
        """The book a bundle makes; ProtocolError when the gate could not use it."""
        return open_gate_book(bundle, load_device_key(self._key_path))

    def _use_bundle(self, bundle: Bundle) -> None:
        """A newly applied bundle takes effect at the next code or card."""
        book = self._book_of(bundle)
        self.book = lambda: book
        if self.station is not None:
            self.station.book = book

    def change_settings(self, settings: Mapping[str, Value]) -> str:
        """A config command: judged against the device's bounds, kept, and in force at once."""
        if self.remote is None:
            raise CommandRefusedError("the station is not started yet")
        detail = self.remote.apply(settings)
        self._take(self.remote.current)
        return detail

    def _take(self, tunables: Tunables) -> None:
        self.config = tunables.config
        if self._heartbeat is not None:
            self._heartbeat.interval_s = self.config.heartbeat_interval_s

    def stop_link(self) -> None:
        if self.uplink is not None:
            self.uplink.stop()

    def start_station(self) -> None:
        assert self.parts and self.uplink and self.passback
        relay = self.profile.pins.relay
        settings = GateSettings(direction=self.config.gate_direction)
        self.station = GateStation(
            record=self.uplink.record,
            outputs=gate_outputs(self.parts),
            passback=self.passback,
            wall=self.wall_clock,
            monotonic=self.monotonic,
            settings=replace(settings, open_s=relay.pulse_s) if relay else settings,
            book=self.book(),
            qr=self.parts.qr,
            cards=self.parts.reader,
        )

    # --- running -----------------------------------------------------------------------------

    def serve_until(self, stop: threading.Event) -> None:
        """Serve codes and cards, heartbeats and the watchdog until `stop` is set."""
        assert self.station is not None
        self.stop_requested = stop
        beat = Every(self.config.heartbeat_interval_s, self.monotonic, at_once=True)
        self._heartbeat = beat
        watchdog_s = self.notifier.watchdog_interval_s
        watchdog = Every(watchdog_s, self.monotonic, at_once=True) if watchdog_s else None
        self.notifier.ready(f"serving {self.profile.name} as {self.config.device_id}")
        while not stop.is_set():
            self.station.book = self.book()
            self.station.poll(SERVE_SLICE_S)
            if beat.is_due():
                self.send_heartbeat()
            if watchdog is not None and watchdog.is_due():
                self.notifier.watchdog()
        self.notifier.stopping()

    def send_heartbeat(self) -> None:
        assert self.outbox is not None and self.uplink is not None
        book = self.book()
        version = None if book is None else book.version
        self.uplink.record(heartbeat(self.config, self.outbox, version, self.clock_offset))

    def _when_received(self, message: Received) -> None:
        """Own-topic messages: the clock offset learns from them, the downlink acts on them."""
        note_command(self.config, message, self.clock_offset, self.wall_clock())
        if self.downlink is not None:
            self.downlink.receive(message.topic, message.body)


@dataclass
class GateCommands:
    """What a gate does for the coordinator's commands (edge_agent.link.downlink)."""

    agent: GateAgent

    def open_door(self, hold_s: float) -> None:
        """Release the turnstile once, as a granted pass would, without an access event."""
        if self.agent.parts is None or self.agent.parts.relay is None:
            raise CommandRefusedError("this gate has no relay")
        self.agent.parts.relay.pulse(hold_s)

    def reboot(self, reason: str) -> None:
        # systemd restarts the unit (Restart=always); a stop request ends the serve loop cleanly.
        log.warning("restart requested by the coordinator: %s", reason)
        if self.agent.stop_requested is not None:
            self.agent.stop_requested.set()

    def change_config(self, settings: Mapping[str, Value]) -> str:
        return self.agent.change_settings(settings)

    def note_passage(self, passage: Passage) -> None:
        if self.agent.station is None:
            if self.agent.passback is not None:
                self.agent.passback.note(passage.holder_ref, passage.direction, passage.at)
            return
        self.agent.station.note_passage(passage.holder_ref, passage.direction, passage.at)


def run_gate_station(
    config: AgentConfig,
    profile: GateStationProfile,
    stop: threading.Event,
    bundle: Path | None,
    *,
    allow_unsigned: bool,
) -> None:
    """Start the steps, serve until stopped (SIGTERM), stop in reverse."""
    book = (
        None
        if bundle is None
        else open_gate_book(*read_bundle_file(config, bundle, allow_unsigned=allow_unsigned))
    )
    agent = GateAgent(config, profile, book=lambda: book)
    app = agent.app()
    app.start()
    try:
        agent.serve_until(stop)
    finally:
        app.stop()


def run_station(
    config: AgentConfig, stop: threading.Event, bundle: Path | None, *, allow_unsigned: bool
) -> None:
    """`edge-agent run`: serve the kind of station the agent's profile names."""
    profile = load_profile(config.profile)
    if isinstance(profile, GateStationProfile):
        run_gate_station(config, profile, stop, bundle, allow_unsigned=allow_unsigned)
    else:
        run_door_station(config, stop, bundle, allow_unsigned=allow_unsigned)
