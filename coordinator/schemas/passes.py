"""Pass applications, the steps of a pass's life, and gates' time rules (services/passes.py,
services/pass_applications.py, services/gate_rules.py hold the rules)."""

from datetime import datetime
from typing import Annotated

from pydantic import Field, computed_field

from coordinator.db.enums import PassApplicationStatus
from coordinator.schemas.common import Id, Instant, Public, Strict, Text, WireId

MAX_PASS_ZONES = 16  # what a pass's code can hold (protocols/passes.py)
Zones = Annotated[list[WireId], Field(min_length=1, max_length=MAX_PASS_ZONES)]
Weekday = Annotated[int, Field(ge=1, le=7, description="ISO weekday: 1 = Monday, 7 = Sunday.")]
ClockTime = Annotated[
    str,
    Field(
        pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$",
        description="HH:MM, 00:00 to 23:59, in the site's time zone.",
    ),
]


class PassApplicationCreate(Strict):
    """A student's application, entered by staff for the student (students do not sign in)."""

    student_id: Id
    building_id: Id = Field(description="The building whose managers handle the pass.")
    zones: Zones = Field(description="Zones of that building's gates the pass should open.")
    valid_from: Instant
    valid_until: Instant


class PassApplicationUpdate(Strict):
    """A draft's changes; a submitted application is no longer edited."""

    zones: Zones | None = None
    valid_from: Instant | None = None
    valid_until: Instant | None = None


class PassApplicationReject(Strict):
    reason: Text


class PassApplicationPublic(Public):
    id: int
    student_id: Id
    building_id: Id
    zones: list[str]
    valid_from: datetime
    valid_until: datetime
    status: PassApplicationStatus
    created_by_id: Id | None
    created_at: datetime
    submitted_at: datetime | None
    decided_by_id: Id | None
    decided_at: datetime | None
    decision_reason: str | None
    pass_id: Id | None


class PassStep(Strict):
    """Why a pass is suspended, revoked, expired early or reissued; kept in the audit log."""

    reason: Text


class PassResume(Strict):
    reason: Text | None = None


class GateTimeRuleCreate(Strict):
    """When a gate lets people through, in its site's time zone.

    `closes` must be after `opens`; a rule that runs past midnight (22:00 to 06:00) says so
    with `past_midnight`, and then closes the next morning.
    """

    gate_id: Id
    weekdays: list[Weekday] = Field(min_length=1, max_length=7)
    opens: ClockTime
    closes: ClockTime
    past_midnight: bool = False


class GateTimeRuleUpdate(Strict):
    weekdays: list[Weekday] | None = Field(default=None, min_length=1, max_length=7)
    opens: ClockTime | None = None
    closes: ClockTime | None = None
    past_midnight: bool | None = None


class GateTimeRulePublic(Public):
    id: int
    gate_id: Id
    weekdays: list[int]
    opens: str
    closes: str

    @computed_field  # type: ignore[prop-decorator]
    @property
    def past_midnight(self) -> bool:
        return self.closes <= self.opens
