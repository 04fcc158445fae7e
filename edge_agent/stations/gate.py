"""The gate station: a pass or a student card in, one decision out, offline.

    code → read_pass (format, site key, site, rotating step, validity) → replayed rotating code
         → revoked → suspended → zone → hours → anti-passback → decision
    card → roster (by keyed hash) →                           hours → anti-passback → decision

Every decision, granted or denied, is an `Access` event committed to the outbox *before* the
turnstile moves: if the commit fails, the gate stays shut (an unrecorded passage is worse than
a student waiting). Then the relay, the lamps and the buzzer show the answer.

A code held up to the camera is read many times a second; the same code (or, for a phone, the
same pass whose code rolled over while held) seen again within `hold_s` of its last sighting
gives no new decision, so two seconds in front of the camera are one event, not thirty.
"""

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from edge_agent.hardware.base import (
    Beeps,
    Buzzer,
    CardReader,
    Clock,
    DoorRelay,
    QrScanner,
    StatusLed,
)
from edge_agent.hardware.errors import HardwareError
from edge_agent.stations.gate_book import GateBook
from edge_agent.stations.passback import PassbackStore
from protocols import (
    Access,
    AccessDecision,
    Credential,
    Direction,
    EventPayload,
    ReasonCode,
)
from protocols.passes import PassMode, PassRefusedError, VerifiedPass, read_pass, rotation_step

log = logging.getLogger(__name__)

MAX_CODE_CHARS = 1024  # a rotating pass is ~370; anything far longer is not ours
_MAX_SIGHTINGS = 4096


@dataclass(frozen=True)
class GateSettings:
    """How a gate judges and answers; defaults suit a turnstile at a campus entrance.

    `direction` is the device's own setting, used until a bundle says which way the gate goes.
    """

    direction: Direction = Direction.IN
    skew: timedelta = timedelta(seconds=60)
    hold_s: float = 2.0
    open_s: float = 5.0


@dataclass(frozen=True)
class GateOutputs:
    """What the gate answers with; lamps and buzzer are optional, the relay is not."""

    relay: DoorRelay
    green: StatusLed | None = None
    red: StatusLed | None = None
    buzzer: Buzzer | None = None


@dataclass(frozen=True)
class GateDecision:
    """One decision, as recorded: granted or denied, why, and for whom."""

    decision: AccessDecision
    reason: ReasonCode
    credential: Credential
    subject_ref: str | None = None
    pass_ref: str | None = None

    @property
    def is_granted(self) -> bool:
        return self.decision is AccessDecision.GRANTED


class _Sightings:
    """When each code or pass was last seen, to turn a code held up for a while into one read.

    A code (its text) may stand for a pass; seeing the code again refreshes the pass too, so a
    phone whose code rolls over while held is still the same sighting.
    """

    def __init__(self, hold_s: float) -> None:
        self.hold_s = hold_s
        self._last: dict[str, float] = {}
        self._stands_for: dict[str, str] = {}

    def is_repeat(self, key: str, at: float) -> bool:
        self._forget_before(at - self.hold_s)
        is_repeat = key in self._last
        self._last[key] = at
        if key in self._stands_for:
            self._last[self._stands_for[key]] = at
        return is_repeat

    def link(self, key: str, subject: str, at: float) -> bool:
        """Record that `key` stands for `subject`; True when the subject is a repeat."""
        self._stands_for[key] = subject
        return self.is_repeat(subject, at)

    def _forget_before(self, moment: float) -> None:
        if len(self._last) < _MAX_SIGHTINGS and all(t >= moment for t in self._last.values()):
            return
        self._last = {k: t for k, t in self._last.items() if t >= moment}
        if len(self._last) >= _MAX_SIGHTINGS:  # a flood of distinct codes: keep the newest half
            newest = sorted(self._last.items(), key=lambda item: item[1])[_MAX_SIGHTINGS // 2 :]
            self._last = dict(newest)
        self._stands_for = {k: s for k, s in self._stands_for.items() if k in self._last}


class _ReplayCache:
    """Rotating codes (pass id, step) already used here, kept while they could still be read."""

    def __init__(self, skew: timedelta) -> None:
        self.skew = skew
        self._used: set[tuple[str, int]] = set()

    def is_replayed(self, pass_ref: str, step: int, now: datetime) -> bool:
        oldest = rotation_step(now - self.skew)
        self._used = {used for used in self._used if used[1] >= oldest}
        if (pass_ref, step) in self._used:
            return True
        self._used.add((pass_ref, step))
        return False


class GateStation:
    """A student gate composed of a QR scanner, an optional card reader and its outputs.

    `present_code` and `present_card` decide one presentation (None when it repeats one just
    decided); `poll` reads the parts once; `run` polls until stopped. `book` is replaced when
    a new bundle arrives; with none, everything is refused as `no_bundle`. `record` commits an
    event to the outbox (`Uplink.record`).
    """

    def __init__(
        self,
        *,
        record: Callable[[EventPayload], object],
        outputs: GateOutputs,
        passback: PassbackStore,
        wall: Callable[[], datetime],
        monotonic: Clock,
        settings: GateSettings | None = None,
        book: GateBook | None = None,
        qr: QrScanner | None = None,
        cards: CardReader | None = None,
    ) -> None:
        self.settings = settings or GateSettings()
        self.book = book
        self.qr, self.cards = qr, cards
        self._record, self._outputs, self._passback = record, outputs, passback
        self._wall, self._monotonic = wall, monotonic
        self._sightings = _Sightings(self.settings.hold_s)
        self._replays = _ReplayCache(self.settings.skew)

    # --- presentations ---------------------------------------------------------------------

    def present_code(self, text: str) -> GateDecision | None:
        """Decide on a scanned QR text; None when it is the code (or pass) just decided."""
        at = self._monotonic()
        key = "code:" + text[:MAX_CODE_CHARS]
        if self._sightings.is_repeat(key, at):
            return None
        book, now = self.book, self._wall()
        if book is None:
            return self._answer(self._denied(ReasonCode.NO_BUNDLE, Credential.QR_PASS), now)
        if len(text) > MAX_CODE_CHARS:
            return self._answer(self._denied(ReasonCode.NOT_A_PASS, Credential.QR_PASS), now)
        try:
            verified = read_pass(
                text, trusted_keys=book.pass_keys, site=book.site, now=now, skew=self.settings.skew
            )
        except PassRefusedError as refusal:
            log.info("pass refused: %s", refusal)
            return self._answer(self._denied(refusal.reason, Credential.QR_PASS), now)
        pass_ref = verified.body.pass_ref
        if self._sightings.link(key, "pass:" + pass_ref, at):
            return None
        reason = self._judge_pass(verified, book, now)
        holder = verified.body.holder_ref
        return self._answer(
            GateDecision(_decision(reason), reason, Credential.QR_PASS, holder, pass_ref), now
        )

    def present_card(self, uid: str) -> GateDecision | None:
        """Decide on a tapped student card (a normalised UID); None when it was just decided."""
        at = self._monotonic()
        if self._sightings.is_repeat("card:" + uid, at):
            return None
        book, now = self.book, self._wall()
        if book is None:
            return self._answer(self._denied(ReasonCode.NO_BUNDLE, Credential.CARD), now)
        holder = book.find_card(uid)
        if holder is None:
            return self._answer(self._denied(ReasonCode.UNKNOWN_CARD, Credential.CARD), now)
        reason = self._judge_holder(holder, book, now)
        return self._answer(GateDecision(_decision(reason), reason, Credential.CARD, holder), now)

    def poll(self, timeout_s: float) -> list[GateDecision]:
        """Read the scanner (waiting up to `timeout_s`) and the card reader once each."""
        decisions: list[GateDecision | None] = []
        if self.qr is not None and (text := self.qr.read(timeout_s)) is not None:
            decisions.append(self.present_code(text))
        if self.cards is not None and (uid := self.cards.read(0)) is not None:
            decisions.append(self.present_card(uid))
        return [decision for decision in decisions if decision is not None]

    def run(self, stop: threading.Event, timeout_s: float = 0.2) -> None:
        """Poll until `stop` is set; a failing part is logged and retried, not fatal."""
        while not stop.is_set():
            try:
                self.poll(timeout_s)
            except HardwareError:
                log.exception("gate part failed; retrying in a second")
                stop.wait(1.0)

    # --- the rules -------------------------------------------------------------------------

    def _judge_pass(self, verified: VerifiedPass, book: GateBook, now: datetime) -> ReasonCode:
        body, pass_ref = verified.body, verified.body.pass_ref
        is_rotating = verified.mode is PassMode.ROTATING and verified.step is not None
        if is_rotating and self._replays.is_replayed(pass_ref, verified.step or 0, now):
            return ReasonCode.PASS_CODE_REPLAYED
        if pass_ref in book.revoked:
            return ReasonCode.PASS_REVOKED
        if pass_ref in book.suspended:
            return ReasonCode.PASS_SUSPENDED
        if book.zone not in body.zones:
            return ReasonCode.WRONG_ZONE
        return self._judge_holder(body.holder_ref, book, now)

    def _judge_holder(self, holder: str, book: GateBook, now: datetime) -> ReasonCode:
        if not book.is_open(now):
            return ReasonCode.OUTSIDE_HOURS
        if self._passback.is_passback(holder, self.direction, now):
            return ReasonCode.ANTI_PASSBACK
        return ReasonCode.OK

    @property
    def direction(self) -> Direction:
        """Which way this gate lets people through: the bundle's word, else the own setting."""
        book = self.book
        if book is not None and book.direction is not None:
            return book.direction
        return self.settings.direction

    def note_passage(self, holder: str, direction: Direction, at: datetime) -> None:
        """A passage another gate of the site granted, for anti-passback here."""
        self._passback.note(holder, direction, at)

    # --- the answer ------------------------------------------------------------------------

    @staticmethod
    def _denied(reason: ReasonCode, credential: Credential) -> GateDecision:
        return GateDecision(AccessDecision.DENIED, reason, credential)

    def _answer(self, decision: GateDecision, now: datetime) -> GateDecision:
        """Commit the event, then move the turnstile; a failed commit keeps the gate shut."""
        direction = self.direction
        event = Access(
            decision=decision.decision,
            reason=decision.reason,
            direction=direction,
            credential=decision.credential,
            subject_ref=decision.subject_ref,
            pass_ref=decision.pass_ref,
        )
        try:
            self._record(event)
        except Exception:
            log.exception("could not commit the access event; the gate stays shut")
            self._show_refusal()
            return GateDecision(
                AccessDecision.DENIED,
                ReasonCode.HARDWARE_FAULT,
                decision.credential,
                decision.subject_ref,
                decision.pass_ref,
            )
        if decision.is_granted and decision.subject_ref is not None:
            self._passback.note(decision.subject_ref, direction, now)
            self._open()
        else:
            self._show_refusal()
        return decision

    def _open(self) -> None:
        outputs, hold = self._outputs, self.settings.open_s
        outputs.relay.pulse(hold)
        if outputs.green is not None:
            outputs.green.blink(hold, 0.0, times=1)
        if outputs.buzzer is not None:
            outputs.buzzer.play(Beeps.ACCEPTED)

    def _show_refusal(self) -> None:
        outputs = self._outputs
        if outputs.red is not None:
            outputs.red.blink(0.2, 0.2, times=3)
        if outputs.buzzer is not None:
            outputs.buzzer.play(Beeps.REFUSED)


def _decision(reason: ReasonCode) -> AccessDecision:
    return AccessDecision.GRANTED if reason is ReasonCode.OK else AccessDecision.DENIED
