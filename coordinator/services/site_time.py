"""Turning a site's wall-clock time into UTC, refusing the times a clock change makes ambiguous."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.orm import Session

from coordinator.db.models import Building, Room, Site
from coordinator.errors import InvalidInputError


def site_time_to_utc(value: datetime, zone: ZoneInfo) -> datetime:
    """A site's wall-clock time (or one with the site's own offset) as UTC; refuses guesses."""
    if value.tzinfo is not None:
        expected = value.astimezone(zone).utcoffset()
        if value.utcoffset() != expected:
            raise ValueError(f"the offset is not {zone.key}'s at that time ({_offset(expected)})")
        return value.astimezone(UTC)
    early, late = value.replace(tzinfo=zone, fold=0), value.replace(tzinfo=zone, fold=1)
    if early.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != value:
        raise ValueError(f"this time does not exist in {zone.key} (clocks go forward)")
    if early.utcoffset() != late.utcoffset():
        raise ValueError(f"this time happens twice in {zone.key} (clocks go back): add the offset")
    return early.astimezone(UTC)


def zone_of_room(session: Session, room: Room) -> ZoneInfo:
    """The time zone of the site a room is in."""
    site = session.scalars(
        select(Site)
        .join(Building, Building.site_id == Site.id)
        .where(Building.id == room.building_id)
    ).one()
    try:
        return ZoneInfo(site.time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInputError(
            f"site {site.code} has no valid time zone ({site.time_zone})"
        ) from None


def at_site(value: datetime, time_zone: str) -> str:
    """An instant as the site's wall clock, with its offset."""
    return value.astimezone(ZoneInfo(time_zone)).isoformat()


def _offset(offset: timedelta | None) -> str:
    seconds = int(offset.total_seconds()) if offset else 0
    sign, minutes = ("-" if seconds < 0 else "+"), abs(seconds) // 60
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"
