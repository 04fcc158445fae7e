"""The builder: compiles, signs and publishes stale bundles, debounced, outside any request.

A change marks bundles stale (services.downlink) in its own transaction. The builder wakes every
`bundle_poll_s`, takes the devices stale for at least `bundle_debounce_s` (so a burst of edits
costs one build), and for each: compiles, signs, stores the signed message with the next
version, and clears the mark, in one transaction; only after the commit does it publish,
retained with QoS 1 on the device's bundle topic, so the broker hands a device that was away
the latest bundle and none of the ones in between. Bundles also age: one whose horizon is half
gone is rebuilt, so a device always knows the sessions ahead.
"""

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, sessionmaker

from coordinator.bundles.compile import (
    BuildRules,
    BundleBuildError,
    Catalogue,
    Signing,
    compile_bundle,
    read_catalogue,
)
from coordinator.bundles.keys import ActiveKey, ensure_active_key, trusted_keys
from coordinator.core.config import Settings
from coordinator.db.models import BundleSync
from coordinator.link.base import Publisher
from coordinator.services.commands import expire_overdue
from protocols import CommandName, ProtocolError, Sender, command_topic, encode
from protocols.signing import content_hash, sign_bundle

log = logging.getLogger(__name__)
BATCH = 500


@dataclass(frozen=True)
class Outgoing:
    """A message to publish once its transaction has committed."""

    topic: str
    body: bytes
    retain: bool


def rules_from(settings: Settings) -> BuildRules:
    return BuildRules(
        horizon=timedelta(hours=settings.bundle_horizon_hours),
        check_in_before=timedelta(minutes=settings.check_in_before_min),
        check_in_after=timedelta(minutes=settings.check_in_after_min),
    )


class Senders:
    """One envelope sender per device for this coordinator run (sequence numbers per device)."""

    def __init__(self) -> None:
        self._senders: dict[str, Sender] = {}
        self._lock = threading.Lock()

    def for_device(self, device_id: str) -> Sender:
        with self._lock:
            return self._senders.setdefault(device_id, Sender(device_id))


def build_stale(
    session: Session, settings: Settings, senders: Senders, now: datetime
) -> list[Outgoing]:
    """Build every bundle due now; returns what to publish after the caller commits."""
    due = list(
        session.scalars(
            select(BundleSync)
            .where(
                or_(
                    BundleSync.stale_since <= now - timedelta(seconds=settings.bundle_debounce_s),
                    BundleSync.valid_until
                    <= now + timedelta(hours=settings.bundle_horizon_hours / 2),
                )
            )
            .order_by(BundleSync.stale_since)
            .limit(BATCH)
            .with_for_update(skip_locked=True)  # several coordinators share the work
        )
    )
    if not due:
        return []
    active = ensure_active_key(session, settings.secret_key)
    signing = Signing(active.key_id, trusted_keys(session))
    catalogue = read_catalogue(session, [sync.device_id for sync in due], now, rules_from(settings))
    build_round = _Round(settings, senders, now, signing, active, catalogue)
    outgoing = [_build_one(session, sync, build_round) for sync in due]
    return [message for message in outgoing if message is not None]


@dataclass(frozen=True)
class _Round:
    """What every bundle of one build round shares."""

    settings: Settings
    senders: Senders
    now: datetime
    signing: Signing
    key: ActiveKey
    catalogue: Catalogue


def _build_one(session: Session, sync: BundleSync, build: _Round) -> Outgoing | None:
    device = build.catalogue.devices[sync.device_id]
    sync.stale_since = None
    version = sync.built_version + 1
    try:
        bundle = compile_bundle(
            build.catalogue,
            device.id,
            version=version,
            now=build.now,
            rules=rules_from(build.settings),
            signing=build.signing,
            secret=build.settings.secret_key,
        )
        signed = sign_bundle(bundle, build.key.private_key)
        envelope = build.senders.for_device(device.id).sequenced(signed)
        body = encode(envelope, max_bytes=build.settings.max_bundle_bytes)
    except (BundleBuildError, ProtocolError) as error:
        sync.build_problem = str(error)[:500]
        sync.valid_until = None
        log.warning("bundle for %s not built: %s", device.id, error)
        return None
    site = build.catalogue.sites[device.site_id]
    sync.built_version, sync.built_at, sync.built_hash = (
        version,
        build.now,
        content_hash(signed.body),
    )
    sync.built_bytes, sync.signed, sync.valid_until = len(body), body, bundle.valid_until
    sync.build_problem = None
    return Outgoing(command_topic(site.code, device.id, CommandName.BUNDLE), body, retain=True)


class BundleBuilder:
    """The builder's thread: `start`, `stop`, and `run_once` for tests and the CLI."""

    def __init__(
        self,
        settings: Settings,
        sessions: sessionmaker[Session],
        publisher: Publisher,
        senders: Senders,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._settings = settings
        self._sessions = sessions
        self._publisher = publisher
        self._senders = senders
        self._clock = clock
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bundle-builder", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def run_once(self) -> int:
        """Build and publish what is due; returns how many bundles were published."""
        now = self._clock()
        with self._sessions.begin() as session:
            outgoing = build_stale(session, self._settings, self._senders, now)
            expire_overdue(session, now)
        for message in outgoing:
            self._publisher.publish(message.topic, message.body, retain=message.retain)
        if outgoing:
            log.info("published %d bundle(s) built at %s", len(outgoing), now.isoformat())
        return len(outgoing)

    def _run(self) -> None:
        while not self._stopping.wait(self._settings.bundle_poll_s):
            try:
                self.run_once()
            except Exception:
                # A database hiccup must not end the builder; the marks stay and are retried.
                log.exception("bundle build round failed; retrying")
