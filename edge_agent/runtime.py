"""A door station's runtime: its parts opened in order as an `App`, and the loop that serves taps.

    store (outbox, check-in log) → hardware → face models → link → station

The loop waits for a card (briefly, so it stays responsive), serves it, and between taps sends
heartbeats at the configured interval and pings systemd's watchdog. The watchdog is fed only by
this loop, so a station stuck in a driver is restarted by systemd.
"""

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from edge_agent.app import App, Step
from edge_agent.clock import ClockOffset, kernel_clock_synced
from edge_agent.config import AgentConfig
from edge_agent.errors import ConfigError
from edge_agent.hardware.base import Beeps, StatusLed
from edge_agent.hardware.factory import StationParts, build_parts, tamper_monitor
from edge_agent.hardware.tamper import TamperKind, TamperMonitor
from edge_agent.link.base import Received
from edge_agent.link.downlink import CommandRefusedError, Downlink, held_bundle, open_downlink
from edge_agent.profile import DoorStationProfile, load_profile
from edge_agent.remote_config import DOOR_SETTINGS, RemoteSettings, SettingsFile, Tunables, Value
from edge_agent.station_runtime import (
    SERVE_SLICE_S,
    LinkFactory,
    heartbeat,
    make_uplink,
    note_command,
    start_uplink,
)
from edge_agent.stations.book import EMPTY_BOOK, DoorBook, book_from_bundle
from edge_agent.stations.door import DoorParts, DoorPolicy, DoorStation, FaceVerifier
from edge_agent.store.bundle import BundleStore
from edge_agent.store.checkins import CheckInLog
from edge_agent.store.device_key import load_device_key
from edge_agent.store.outbox import Outbox
from edge_agent.systemd import Every, Notifier
from edge_agent.uplink import Uplink
from protocols import (
    Passage,
    ProtocolError,
    Severity,
    Station,
    Violation,
    ViolationType,
)
from protocols.bundle import Bundle
from protocols.sealing import read_private_key_pem
from protocols.signing import load_bundle_file

log = logging.getLogger(__name__)

DEVICE_KEY_FILE = "device-key.pem"
SCENE_REFERENCE_FILE = "scene-reference.npy"
TAMPER_SEVERITY = {
    TamperKind.DOOR_FORCED_OPEN: Severity.HIGH,
    TamperKind.DOOR_HELD_OPEN: Severity.MEDIUM,
    TamperKind.CAMERA_COVERED: Severity.HIGH,
    TamperKind.CAMERA_MOVED: Severity.MEDIUM,
}
BUNDLE_STORE_FILE = "bundle.sqlite3"


VerifierFactory = Callable[[DoorStationProfile], FaceVerifier]


def _real_verifier(profile: DoorStationProfile) -> FaceVerifier:
    from vision import FacePipeline  # noqa: PLC0415 - loading models is a start-up step

    return FacePipeline(settings=profile.vision_settings())


def door_parts(parts: StationParts) -> DoorParts:
    """The door station's view of the parts the profile built; says what is missing."""
    missing = [
        name
        for name, part in (
            ("reader", parts.reader),
            ("camera", parts.camera),
            ("pins.relay", parts.relay),
            ("pins.leds.green", parts.leds.get("green")),
            ("pins.leds.red", parts.leds.get("red")),
            ("pins.buzzer", parts.buzzer),
            ("location", parts.location),
        )
        if part is None
    ]
    if missing:
        raise ConfigError(
            f"a door station needs {', '.join(missing)} in its firmware profile; add them"
        )
    assert parts.reader and parts.camera and parts.relay and parts.buzzer and parts.location
    return DoorParts(
        reader=parts.reader,
        camera=parts.camera,
        relay=parts.relay,
        green=parts.leds["green"],
        red=parts.leds["red"],
        buzzer=parts.buzzer,
        location=parts.location,
    )


def door_policy(profile: DoorStationProfile) -> DoorPolicy:
    """The station's settings from the profile (vision's come from `profile.vision_settings`)."""
    limits = profile.thresholds
    return DoorPolicy(
        frames=limits.frames_per_attempt,
        geofence_radius_m=limits.geofence_radius_m,
        relay_hold_s=profile.pins.relay.pulse_s if profile.pins.relay else 3.0,
        keep_evidence=profile.features.evidence_crops,
    )


@dataclass
class DoorAgent:
    """One door station's runtime; `app()` gives its start/stop steps, `serve_until` its loop.

    `book` is read at every tap, so a new bundle takes effect on the next card.
    """

    config: AgentConfig
    profile: DoorStationProfile
    book: Callable[[], DoorBook] = lambda: EMPTY_BOOK
    make_link: LinkFactory | None = None
    make_verifier: VerifierFactory = _real_verifier
    make_parts: Callable[[DoorStationProfile], StationParts] = build_parts
    notifier: Notifier = field(default_factory=Notifier)
    wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    monotonic: Callable[[], float] = time.monotonic
    is_clock_synced: Callable[[], bool | None] = kernel_clock_synced
    clock_offset: ClockOffset = field(default_factory=ClockOffset)

    outbox: Outbox | None = None
    checkins: CheckInLog | None = None
    bundles: BundleStore | None = None
    downlink: Downlink | None = None
    parts: StationParts | None = None
    verifier: FaceVerifier | None = None
    uplink: Uplink | None = None
    station: DoorStation | None = None
    tamper: TamperMonitor | None = None
    remote: RemoteSettings | None = None
    _alarm_on: bool = False
    _heartbeat: Every | None = None
    stop_requested: threading.Event | None = None

    def app(self) -> App:
        return App(
            [
                Step("store", self.open_store, self.close_store),
                Step("hardware", self.start_hardware, self.stop_hardware),
                Step("face models", self.load_models),
                Step("link", self.start_link, self.stop_link),
                Step("station", self.start_station),
                Step("tamper watch", self.start_tamper_watch),
            ]
        )

    # --- steps -------------------------------------------------------------------------------

    def open_store(self) -> None:
        self.outbox = Outbox(self.config.outbox_path, max_items=self.config.outbox_max_items)
        self.checkins = CheckInLog(self.config.data_dir / "checkins.sqlite3")
        self.bundles = BundleStore(self.config.data_dir / BUNDLE_STORE_FILE)
        held = held_bundle(self.bundles, self.config.data_dir / DEVICE_KEY_FILE)
        if held is not None:
            self._use_bundle(held)  # the bundle in force survives restarts and outages
        base = Tunables(self.config, self.profile.thresholds)
        self.remote = RemoteSettings(base, DOOR_SETTINGS, SettingsFile(self.config.data_dir))
        self._take(self.remote.current)

    def close_store(self) -> None:
        for store in (self.checkins, self.outbox, self.bundles):
            if store is not None:
                store.close()

    def start_hardware(self) -> None:
        self.parts = self.make_parts(self.profile)

    def stop_hardware(self) -> None:
        if self.parts is not None:
            self.parts.close()

    def load_models(self) -> None:
        self.verifier = self.make_verifier(self.profile)

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
        self._open_downlink(self.uplink)
        start_uplink(self.uplink, self.config)

    def _open_downlink(self, uplink: Uplink) -> None:
        """Bundles and commands from the coordinator, once the device has its key."""
        self.downlink = open_downlink(
            self.config.device_id,
            key_path=self.config.data_dir / DEVICE_KEY_FILE,
            store=self.bundles,
            record=uplink.record,
            actions=DoorCommands(self),
            clock=self.wall_clock,
            when_applied=self._use_bundle,
            station=Station.DOOR,
        )

    def change_settings(self, settings: Mapping[str, Value]) -> str:
        """A config command: judged against the profile's bounds, kept, and in force at once."""
        if self.remote is None:
            raise CommandRefusedError("the station is not started yet")
        detail = self.remote.apply(settings)
        self._take(self.remote.current)
        return detail

    def _take(self, tunables: Tunables) -> None:
        self.config = tunables.config
        self.profile = self.profile.model_copy(update={"thresholds": tunables.thresholds})
        if self.station is not None:
            self.station.policy = door_policy(self.profile)
        if self._heartbeat is not None:
            self._heartbeat.interval_s = self.config.heartbeat_interval_s

    def current_book(self) -> DoorBook:
        """What the station reads at each tap; a bundle applied later replaces `self.book`."""
        return self.book()

    def _use_bundle(self, bundle: Bundle) -> None:
        """A newly applied bundle takes effect at the next tap."""
        book = book_from_bundle(bundle, load_device_key(self.config.data_dir / DEVICE_KEY_FILE))
        self.book = lambda: book

    def stop_link(self) -> None:
        if self.uplink is not None:
            self.uplink.stop()

    def start_station(self) -> None:
        assert self.parts and self.uplink and self.checkins and self.verifier
        self.station = DoorStation(
            parts=door_parts(self.parts),
            book=self.current_book,
            verifier=self.verifier,
            record=self.uplink.record,
            checkins=self.checkins,
            policy=door_policy(self.profile),
            wall_clock=self.wall_clock,
            monotonic=self.monotonic,
            evidence_dir=self.config.data_dir / "evidence",
        )

    def start_tamper_watch(self) -> None:
        """The door contact and camera watches the profile's features ask for."""
        assert self.parts is not None and self.station is not None
        self.tamper = tamper_monitor(
            self.parts,
            self.profile,
            reference_path=self.config.data_dir / SCENE_REFERENCE_FILE,
            clock=self.monotonic,
        )
        self.station.when_unlocking = self.tamper.grant

    # --- running -----------------------------------------------------------------------------

    def serve_until(self, stop: threading.Event) -> None:
        """Serve taps, heartbeats and the watchdog until `stop` is set."""
        assert self.station is not None
        self.stop_requested = stop
        heartbeat = Every(self.config.heartbeat_interval_s, self.monotonic, at_once=True)
        self._heartbeat = heartbeat
        watchdog_s = self.notifier.watchdog_interval_s
        watchdog = Every(watchdog_s, self.monotonic, at_once=True) if watchdog_s else None
        self.notifier.ready(f"serving {self.profile.name} as {self.config.device_id}")
        while not stop.is_set():
            self.station.serve(SERVE_SLICE_S)
            self.report_tamper()
            if heartbeat.is_due():
                self.send_heartbeat()
            self._sound_alarm_if_full()
            if watchdog is not None and watchdog.is_due():
                self.notifier.watchdog()
        self.notifier.stopping()

    def send_heartbeat(self) -> None:
        assert self.outbox is not None and self.uplink is not None
        self.uplink.record(
            heartbeat(self.config, self.outbox, self.book().version, self.clock_offset)
        )

    def report_tamper(self) -> None:
        """Each new tamper finding becomes a violation event."""
        if self.tamper is None or self.uplink is None:
            return
        for finding in self.tamper.poll():
            log.warning("tamper: %s (%s)", finding.kind, finding.detail)
            self.uplink.record(
                Violation(
                    violation_type=ViolationType.TAMPER,
                    severity=TAMPER_SEVERITY[finding.kind],
                    confidence=min(max(finding.confidence, 0.0), 1.0),
                    detail=f"{finding.kind}: {finding.detail}"[:500],
                )
            )

    def _sound_alarm_if_full(self) -> None:
        """A full outbox means a long outage: decisions are still kept, but someone must look."""
        assert self.outbox is not None and self.parts is not None
        is_full = self.outbox.is_full
        if is_full == self._alarm_on:
            return
        self._alarm_on = is_full
        amber: StatusLed | None = self.parts.leds.get("amber")
        if is_full:
            log.error("outbox is full (%d messages): only decisions are kept", self.outbox.count())
            if amber is not None:
                amber.blink(0.5, 0.5)
            if self.parts.buzzer is not None:
                self.parts.buzzer.play(Beeps.ALARM)
        elif amber is not None:
            amber.off()

    def _when_received(self, message: Received) -> None:
        """Own-topic messages: the clock offset learns from them, the downlink acts on them."""
        note_command(self.config, message, self.clock_offset, self.wall_clock())
        if self.downlink is not None:
            self.downlink.receive(message.topic, message.body)


@dataclass
class DoorCommands:
    """What a door station does for the coordinator's commands (edge_agent.link.downlink)."""

    agent: DoorAgent

    def open_door(self, hold_s: float) -> None:
        if self.agent.parts is None or self.agent.parts.relay is None:
            raise CommandRefusedError("this station has no door relay")
        if self.agent.tamper is not None:  # a remote open is granted, not forced
            self.agent.tamper.grant(hold_s)
        self.agent.parts.relay.pulse(hold_s)

    def reboot(self, reason: str) -> None:
        # systemd restarts the unit (Restart=always); a stop request ends the serve loop cleanly.
        log.warning("restart requested by the coordinator: %s", reason)
        if self.agent.stop_requested is not None:
            self.agent.stop_requested.set()

    def change_config(self, settings: Mapping[str, Value]) -> str:
        return self.agent.change_settings(settings)

    def note_passage(self, passage: Passage) -> None:
        return None  # anti-passback is a gate's concern


def load_door_profile(config: AgentConfig) -> DoorStationProfile:
    profile = load_profile(config.profile)
    if not isinstance(profile, DoorStationProfile):
        raise ConfigError(
            f"profile {profile.name} is a {profile.station} station; `edge-agent run` serves door "
            "stations; fix: name a door-station profile in the agent config"
        )
    return profile


def load_book_file(config: AgentConfig, path: Path, *, allow_unsigned: bool) -> DoorBook:
    """A bundle file read through the same model and checks as a bundle from the coordinator."""
    return book_from_bundle(*read_bundle_file(config, path, allow_unsigned=allow_unsigned))


def read_bundle_file(
    config: AgentConfig, path: Path, *, allow_unsigned: bool
) -> tuple[Bundle, X25519PrivateKey]:
    """A checked bundle file for this device, and the device key that opens what it seals."""
    key_path = config.data_dir / DEVICE_KEY_FILE
    try:
        device_key = read_private_key_pem(key_path.read_bytes())
        bundle = load_bundle_file(path, allow_unsigned=allow_unsigned)
    except OSError as error:
        raise ConfigError(
            f"cannot read {error.filename}: {error.strerror}; fix: the bundle file must exist and "
            f"the device key must be at {key_path} (PEM, made when the device was registered)"
        ) from None
    except ProtocolError as error:
        raise ConfigError(f"bundle {path} refused: {error}") from None
    if bundle.device_id != config.device_id:
        raise ConfigError(f"bundle {path} is for {bundle.device_id}, not {config.device_id}")
    return bundle, device_key


def run_door_station(
    config: AgentConfig, stop: threading.Event, bundle: Path | None, *, allow_unsigned: bool
) -> None:
    """`edge-agent run`: start the steps, serve until stopped (SIGTERM), stop in reverse."""
    profile = load_door_profile(config)
    book = (
        EMPTY_BOOK
        if bundle is None
        else load_book_file(config, bundle, allow_unsigned=allow_unsigned)
    )
    agent = DoorAgent(config, profile, book=lambda: book)
    app = agent.app()
    app.start()
    try:
        agent.serve_until(stop)
    finally:
        app.stop()
