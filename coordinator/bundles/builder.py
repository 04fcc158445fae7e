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

from sqlalchemy import case, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from coordinator.bundles.catalogue import BuildRules, Catalogue, read_catalogue
from coordinator.bundles.compile import BundleBuildError, Signing, compile_bundle
from coordinator.bundles.keys import ActiveKey, ensure_active_key, trusted_keys
from coordinator.bundles.passages import PassageForwarder
from coordinator.core.config import Settings
from coordinator.db.models import BundleSync
from coordinator.link.base import Publisher
from coordinator.services.commands import expire_overdue
from protocols import CommandName, ProtocolError, Sender, command_topic, encode
from protocols.signing import content_hash, sign_bundle

log = logging.getLogger(__name__)
BATCH = 100  # small rounds: the first devices get theirs while the rest are built


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


@dataclass(frozen=True)
class Built:
    """One device's build, to be recorded if nobody built it meanwhile."""

    device_id: str
    seen_stale: datetime | None
    old_version: int
    values: dict[str, object]
    outgoing: Outgoing | None


def build_stale(
    session: Session, settings: Settings, senders: Senders, now: datetime
) -> list[Outgoing]:
    """Build every bundle due now in one session (scripts, benchmarks); see `BundleBuilder`."""
    return record_builds(session, compile_due(session, settings, senders, now))


def compile_due(
    session: Session, settings: Settings, senders: Senders, now: datetime
) -> list[Built]:
    """Compile, sign and encode the bundles due now; reads only, holds no row locks."""
    due = session.execute(
        select(BundleSync.device_id, BundleSync.stale_since, BundleSync.built_version)
        .where(
            or_(
                BundleSync.stale_since <= now - timedelta(seconds=settings.bundle_debounce_s),
                BundleSync.valid_until <= now + timedelta(hours=settings.bundle_horizon_hours / 2),
            )
        )
        .order_by(BundleSync.device_id)
        .limit(BATCH)
    ).all()
    if not due:
        return []
    active = ensure_active_key(session, settings.secret_key)
    signing = Signing(active.key_id, trusted_keys(session))
    catalogue = read_catalogue(session, [row.device_id for row in due], now, rules_from(settings))
    build_round = _Round(settings, senders, now, signing, active, catalogue)
    return [
        _build_one(build_round, row.device_id, row.stale_since, row.built_version) for row in due
    ]


def record_builds(session: Session, builds: list[Built]) -> list[Outgoing]:
    """Store the builds in a short transaction; returns what to publish after it commits.

    A build is kept only if the device's version is still the one it was built on (another
    coordinator did not build it meanwhile); the stale mark is cleared only if no change
    came in during the build, else the device is built again in the next round.
    """
    outgoing = []
    for build in sorted(builds, key=lambda item: item.device_id):  # the writers' lock order
        result = session.execute(
            update(BundleSync)
            .where(
                BundleSync.device_id == build.device_id,
                BundleSync.built_version == build.old_version,
            )
            .values(
                **build.values,
                stale_since=case(
                    (BundleSync.stale_since == build.seen_stale, None),
                    else_=BundleSync.stale_since,
                ),
            )
            .execution_options(synchronize_session=False)
        )
        if getattr(result, "rowcount", 0) == 1 and build.outgoing is not None:
            outgoing.append(build.outgoing)
    return outgoing


@dataclass(frozen=True)
class _Round:
    """What every bundle of one build round shares."""

    settings: Settings
    senders: Senders
    now: datetime
    signing: Signing
    key: ActiveKey
    catalogue: Catalogue


def _build_one(
    build: _Round, device_id: str, seen_stale: datetime | None, old_version: int
) -> Built:
    device = build.catalogue.devices[device_id]
    version = old_version + 1
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
        log.warning("bundle for %s not built: %s", device.id, error)
        problem: dict[str, object] = {"build_problem": str(error)[:500], "valid_until": None}
        return Built(device_id, seen_stale, old_version, problem, None)
    site = build.catalogue.sites[device.site_id]
    values: dict[str, object] = {
        "built_version": version,
        "built_at": build.now,
        "built_hash": content_hash(signed.body),
        "built_bytes": len(body),
        "signed": body,
        "valid_until": bundle.valid_until,
        "build_problem": None,
    }
    topic = command_topic(site.code, device.id, CommandName.BUNDLE)
    return Built(device_id, seen_stale, old_version, values, Outgoing(topic, body, retain=True))


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
        self._passages = PassageForwarder(senders)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def run_once(self) -> int:
        """Build and publish what is due; returns how many bundles were published."""
        now = self._clock()
        with self._sessions.begin() as session:  # a write only when the first key is made
            builds = compile_due(session, self._settings, self._senders, now)
        with self._sessions.begin() as session:
            outgoing = record_builds(session, builds)
            expire_overdue(session, now)
        for message in outgoing:
            self._publisher.publish(message.topic, message.body, retain=message.retain)
        if outgoing:
            log.info("published %d bundle(s) built at %s", len(outgoing), now.isoformat())
        with self._sessions() as session:  # granted accesses, to the site's other gates
            passages = self._passages.due(session, now)
        for topic, body in passages:
            self._publisher.publish(topic, body, retain=False)
        return len(outgoing)

    def _run(self) -> None:
        while not self._stopping.wait(self._settings.bundle_poll_s):
            try:
                self.run_once()
            except Exception:
                # A database hiccup must not end the builder; the marks stay and are retried.
                log.exception("bundle build round failed; retrying")
