"""Errors of the hardware layer; each names the part and says what to do about it."""

from edge_agent.errors import EdgeError


class HardwareError(EdgeError, OSError):
    """A part cannot be opened, read or driven (device missing, permissions, unplugged)."""


class DriverUnavailableError(HardwareError):
    """A driver's library is not installed on this machine."""

    def __init__(self, driver: str, package: str, fix: str) -> None:
        super().__init__(f"the {driver} driver needs {package}, which is not installed; {fix}")
        self.driver = driver


class CardFormatError(HardwareError, ValueError):
    """A reader produced something that is not a card UID (noise, a half read, a wrong format)."""
