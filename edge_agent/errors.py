"""Errors of the edge agent; each says what to do about it."""


class EdgeError(Exception):
    """Base of every error the edge agent raises on purpose."""


class ConfigError(EdgeError, ValueError):
    """The agent's configuration is missing or wrong."""


class OutboxError(EdgeError, OSError):
    """The outbox database cannot be opened or written."""
