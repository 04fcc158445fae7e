"""The simplest location source: the coordinates surveyed when the device was mounted."""

from __future__ import annotations

from edge_agent.hardware.base import FixSource, LocationSource, Position
from edge_agent.profile_parts import FixedLocation


class FixedLocationSource(LocationSource):
    """Always the profile's coordinates, with their stated accuracy."""

    def __init__(self, config: FixedLocation) -> None:
        self._position = Position(
            config.latitude, config.longitude, config.accuracy_m, FixSource.FIXED
        )

    def read(self, timeout_s: float) -> Position:
        return self._position
