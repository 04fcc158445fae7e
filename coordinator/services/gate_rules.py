"""When each gate lets people through: time-of-day and day-of-week rules, in the site's zone.

A gate with no rule is always open; with rules, it is open while any of them holds (the gate
decides: edge_agent/stations/gate_book.py). A rule opens at `opens` on each listed weekday and
closes at `closes` the same day, or, when it says it runs past midnight, the next morning. Every
change is audited, and the audit hook marks that gate's devices stale in the same transaction
(services.downlink, entity "gate time rule"), so the next bundle carries the new hours.
"""

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from coordinator.db.models import Gate, GateTimeRule
from coordinator.errors import ConflictError, InvalidInputError, NotFoundError
from coordinator.schemas import passes as s
from coordinator.services import records
from coordinator.services.audit import Actor
from coordinator.services.records import Placement
from coordinator.services.scope import Scope

WHAT = "gate time rule"
MAX_RULES_PER_GATE = 50


def _building_of_gate(session: Session, gate_id: int) -> int | None:
    return session.scalar(select(Gate.building_id).where(Gate.id == gate_id))


TIME_RULES = Placement[GateTimeRule](
    building_of=lambda session, rule: _building_of_gate(session, rule.gate_id),
    visible=lambda query, ids: query.where(
        GateTimeRule.gate_id.in_(select(Gate.id).where(Gate.building_id.in_(ids)))
    ),
)


def create_time_rule(
    session: Session, *, data: s.GateTimeRuleCreate, actor: Actor, scope: Scope
) -> GateTimeRule:
    gate = session.get(Gate, data.gate_id)
    if gate is None:
        raise NotFoundError(f"gate_id {data.gate_id} does not exist")
    scope.require_building(gate.building_id, "gate")
    _require_hours(data.weekdays, data.opens, data.closes, past_midnight=data.past_midnight)
    held = session.scalar(select(func.count()).where(GateTimeRule.gate_id == gate.id)) or 0
    if held >= MAX_RULES_PER_GATE:
        raise ConflictError(
            f"gate {gate.id} already has {held} rules, the most a gate holds: merge some"
        )
    rule = GateTimeRule(
        gate_id=gate.id, weekdays=sorted(data.weekdays), opens=data.opens, closes=data.closes
    )
    return records.create(session, rule, actor=actor, scope=scope, placement=TIME_RULES, what=WHAT)


def update_time_rule(
    session: Session,
    rule: GateTimeRule,
    *,
    changes: s.GateTimeRuleUpdate,
    actor: Actor,
    scope: Scope,
) -> GateTimeRule:
    """The merged rule is held to the rules of a new one; past_midnight, when not given, stays
    what the stored rule was."""
    values = records.given(changes, GateTimeRule)
    past_midnight = values.pop("past_midnight", None)
    if past_midnight is None:
        past_midnight = rule.closes <= rule.opens
    weekdays = values.get("weekdays", rule.weekdays)
    opens, closes = values.get("opens", rule.opens), values.get("closes", rule.closes)
    _require_hours(weekdays, opens, closes, past_midnight=past_midnight)
    if "weekdays" in values:
        values["weekdays"] = sorted(weekdays)
    return records.update(
        session, rule, values, actor=actor, scope=scope, placement=TIME_RULES, what=WHAT
    )


def remove_time_rule(session: Session, rule: GateTimeRule, *, actor: Actor) -> None:
    records.delete(session, rule, actor=actor, what=WHAT)


def _require_hours(weekdays: list[int], opens: str, closes: str, *, past_midnight: bool) -> None:
    if len(set(weekdays)) != len(weekdays):
        raise InvalidInputError("each weekday once (1 = Monday ... 7 = Sunday)", field="weekdays")
    if opens == closes:
        raise InvalidInputError("a rule closes at another time than it opens", field="closes")
    if not past_midnight and closes < opens:
        raise InvalidInputError(
            f"closes ({closes}) must be after opens ({opens}); for hours past midnight set "
            "past_midnight",
            field="closes",
        )
    if past_midnight and closes > opens:
        raise InvalidInputError(
            f"a rule past midnight closes the next morning, before it opens ({opens})",
            field="closes",
        )
