"""Errors of the coordinator; each says what to do about it."""


class CoordinatorError(Exception):
    """Base of every error the coordinator raises on purpose."""


class SettingsError(CoordinatorError, ValueError):
    """The coordinator's settings are missing or unsafe."""


class DatabaseNotReadyError(CoordinatorError, RuntimeError):
    """The database schema is not at the version this code needs."""
