"""The device's side of the downlink: bundles and commands from the coordinator.

`receive(topic, body)` is given every message on the device's command topics (the link's
`Received` events). A bundle is checked (signature by a trusted key, this device, newer than
the one held; its secrets open with this device's key), stored all-or-nothing, and acknowledged
with its version and content hash; a refused one is acknowledged as refused with the reason and
changes nothing. A command past its expiry is refused as expired, not acted on; one seen before
(a redelivery) is not acted on twice. Replies go through `record`, i.e. the outbox, so they
survive a restart like every event. A `passage` (another gate let someone through) is handed to
the station unanswered, and dropped once expired.

Door and gate runtimes both open theirs with `open_downlink`; what differs between them is only
the `CommandActions` they pass and the `vet` that tells whether a bundle suits the station.
"""

import json
import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from edge_agent.store.bundle import BundleStore
from edge_agent.store.device_key import BundleSecrets, DeviceKeyError, load_device_key
from protocols import (
    BundleAck,
    BundleRefusal,
    BundleStatus,
    Channel,
    CommandName,
    CommandResult,
    CommandStatus,
    ConfigChange,
    OpenDoor,
    Passage,
    ProtocolError,
    Reboot,
    SignedBundle,
    Station,
    decode_on_topic,
    parse_topic,
)
from protocols.bundle import Bundle
from protocols.messages import MAX_BUNDLE_BODY_CHARS, AckPayload
from protocols.signing import BundleRefusedError, check_bundle, content_hash

log = logging.getLogger(__name__)
# A bundle message is its body plus the envelope; JSON escaping can grow the body a little.
MAX_BUNDLE_MESSAGE_BYTES = 2 * MAX_BUNDLE_BODY_CHARS
MAX_VERSION = 2**31 - 1
# A passage stamped further ahead than this by the other gate's clock is not believed: it would
# hold the holder as "just passed" for that much longer than the window.
MAX_PASSAGE_AHEAD = timedelta(minutes=5)


class CommandRefusedError(Exception):
    """A command the device will not carry out (e.g. a setting its profile does not allow)."""


class CommandActions(Protocol):
    """What the station does for commands; each may raise CommandRefusedError."""

    def open_door(self, hold_s: float) -> None: ...

    def reboot(self, reason: str) -> None: ...

    def change_config(self, settings: Mapping[str, str | int | float | bool]) -> str | None:
        """Apply the settings (all or none); returns what changed, for the command result."""
        ...

    def note_passage(self, passage: Passage) -> None:
        """Another gate let someone through (a door ignores it)."""
        ...


class Downlink:
    """Checks, applies and answers what the coordinator sends to this device."""

    def __init__(
        self,
        device_id: str,
        *,
        store: BundleStore,
        device_key: X25519PrivateKey,
        record: Callable[[AckPayload], object],
        actions: CommandActions,
        clock: Callable[[], datetime],
        when_applied: Callable[[Bundle], object] | None = None,
        station: Station | None = None,
        vet: Callable[[Bundle], object] | None = None,
    ) -> None:
        self.device_id = device_id
        self.station = station
        self._vet = vet
        self._store = store
        self._secrets = BundleSecrets(device_id, device_key)
        self._record = record
        self._actions = actions
        self._clock = clock
        self._when_applied = when_applied

    def receive(self, topic: str, body: bytes) -> None:
        try:
            parsed = parse_topic(topic, device_id=self.device_id)
        except ProtocolError as error:
            log.warning("ignored a message on %r: %s", topic, error)
            return
        if parsed.channel is not Channel.COMMAND:
            return
        try:
            envelope = decode_on_topic(parsed, body, max_bytes=MAX_BUNDLE_MESSAGE_BYTES)
        except ProtocolError as error:
            self._refuse_unreadable(parsed.name, str(error))
            return
        payload = envelope.payload
        if isinstance(payload, SignedBundle):
            self._on_bundle(payload)
        elif isinstance(payload, OpenDoor | Reboot | ConfigChange):
            self._on_command(payload)
        elif isinstance(payload, Passage):
            self._on_passage(payload)

    # --- bundles ----------------------------------------------------------------------------

    def _on_bundle(self, signed: SignedBundle) -> None:
        held = self._store.held()
        try:
            bundle = check_bundle(
                signed,
                trusted_keys=self._store.trusted_keys(),
                device_id=self.device_id,
                held_version=held.version if held else None,
                held_hash=held.content_hash if held else None,
            )
            self._require_secrets_open(bundle)
            self._require_fit(bundle)
        except BundleRefusedError as error:
            log.warning("refused a bundle: %s", error)
            self._ack_refused(_claimed_version(signed.body), error.refusal, str(error), signed)
            return
        if held is None or bundle.version != held.version:
            self._store.apply(bundle, signed.body)
            if self._when_applied is not None:
                self._when_applied(bundle)
        self._record(
            BundleAck(
                bundle_version=bundle.version,
                status=BundleStatus.APPLIED,
                content_hash=content_hash(signed.body),
            )
        )

    def _require_secrets_open(self, bundle: Bundle) -> None:
        """A bundle sealed to another key would leave the device unable to decide: refuse it."""
        try:
            if bundle.card_key is not None:
                self._secrets.card_key(bundle)
        except DeviceKeyError as error:
            raise BundleRefusedError(BundleRefusal.UNREADABLE_SECRETS, str(error)) from None

    def _require_fit(self, bundle: Bundle) -> None:
        """A bundle for another kind of station, or one the station cannot use, is refused."""
        if self.station is not None and bundle.binding.station is not self.station:
            raise BundleRefusedError(
                BundleRefusal.FOREIGN,
                f"bundle is for a {bundle.binding.station.value} station; this is a "
                f"{self.station.value} station",
            )
        if self._vet is None:
            return
        try:
            self._vet(bundle)
        except ProtocolError as error:
            raise BundleRefusedError(BundleRefusal.MALFORMED, str(error)) from None

    def _ack_refused(
        self, version: int, refusal: BundleRefusal, reason: str, signed: SignedBundle | None
    ) -> None:
        self._record(
            BundleAck(
                bundle_version=version,
                status=BundleStatus.REFUSED,
                refusal=refusal,
                reason=reason[:500],
                content_hash=content_hash(signed.body) if signed else None,
            )
        )

    def _refuse_unreadable(self, name: str | None, reason: str) -> None:
        if name == CommandName.BUNDLE.value:
            self._ack_refused(0, BundleRefusal.MALFORMED, reason, None)
        else:
            log.warning("ignored an unreadable %s command: %s", name, reason)

    # --- commands ---------------------------------------------------------------------------

    def _on_command(self, command: OpenDoor | Reboot | ConfigChange) -> None:
        if not self._store.first_time(str(command.command_id)):
            log.info("command %s was handled before; not again", command.command_id)
            return
        now = self._clock()
        if command.expires_at is not None and now >= command.expires_at:
            late = (now - command.expires_at).total_seconds()
            self._answer(command, CommandStatus.EXPIRED, f"arrived {late:.0f} s after its expiry")
            return
        try:
            self._carry_out(command)
        except CommandRefusedError as error:
            self._answer(command, CommandStatus.REFUSED, str(error))
        except Exception as error:
            log.exception("command %s failed", command.command_id)
            self._answer(command, CommandStatus.FAILED, f"{type(error).__name__}: {error}")

    def _carry_out(self, command: OpenDoor | Reboot | ConfigChange) -> None:
        if isinstance(command, OpenDoor):
            self._actions.open_door(command.hold_s)
            self._answer(command, CommandStatus.DONE, f"door released for {command.hold_s:g} s")
        elif isinstance(command, ConfigChange):
            detail = self._actions.change_config(command.settings)
            self._answer(command, CommandStatus.DONE, detail or "settings changed")
        else:
            # The answer is in the outbox before the restart, so it is sent after it.
            self._answer(command, CommandStatus.DONE, "restarting")
            self._actions.reboot(command.reason)

    def _on_passage(self, passage: Passage) -> None:
        if passage.gate_device_id == self.device_id:
            return  # our own passage, already noted when it happened
        now = self._clock()
        if passage.expires_at is not None and now >= passage.expires_at:
            log.info("passage of %s arrived after its window; ignored", passage.holder_ref)
            return
        if passage.at > now + MAX_PASSAGE_AHEAD:
            log.warning(
                "passage of %s is stamped %s, ahead of this clock; ignored (check %s's clock)",
                passage.holder_ref,
                passage.at.isoformat(),
                passage.gate_device_id,
            )
            return
        self._actions.note_passage(passage)

    def _answer(
        self, command: OpenDoor | Reboot | ConfigChange, status: CommandStatus, detail: str
    ) -> None:
        self._record(
            CommandResult(command_id=command.command_id, status=status, detail=detail[:500])
        )


def open_downlink(
    device_id: str,
    *,
    key_path: Path,
    store: BundleStore | None,
    record: Callable[[AckPayload], object],
    actions: CommandActions,
    clock: Callable[[], datetime],
    when_applied: Callable[[Bundle], object],
    station: Station,
    vet: Callable[[Bundle], object] | None = None,
) -> Downlink | None:
    """The station's downlink, once the device has its key; None (and a warning) before that.

    Open it before the uplink subscribes: the retained bundle arrives with the subscription.
    """
    if store is None or not key_path.exists():
        log.warning("no device key at %s: bundles and commands are not taken", key_path)
        return None
    return Downlink(
        device_id,
        store=store,
        device_key=load_device_key(key_path),
        record=record,
        actions=actions,
        clock=clock,
        when_applied=when_applied,
        station=station,
        vet=vet,
    )


def held_bundle(store: BundleStore, key_path: Path) -> Bundle | None:
    """The bundle in force from an earlier run, when the device key to open it is there."""
    held = store.current()
    return held if held is not None and key_path.exists() else None


def _claimed_version(body: str) -> int:
    """The version a refused body claims, for the ack; 0 when it claims none readable."""
    try:
        version = json.loads(body).get("version")
    except (ValueError, AttributeError, RecursionError):
        return 0
    if isinstance(version, int) and not isinstance(version, bool) and 0 <= version <= MAX_VERSION:
        return version
    return 0
