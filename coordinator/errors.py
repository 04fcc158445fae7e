"""Errors of the coordinator; each says what to do about it, and maps to one HTTP status."""


class CoordinatorError(Exception):
    """Base of every error the coordinator raises on purpose."""

    status_code = 400
    code = "bad_request"

    def __init__(self, message: str = "", *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field  # the input field at fault, when there is one


class SettingsError(CoordinatorError, ValueError):
    """The coordinator's settings are missing or unsafe."""

    code = "settings"


class DatabaseNotReadyError(CoordinatorError, RuntimeError):
    """The database schema is not at the version this code needs."""

    status_code = 503
    code = "database_not_ready"


class AuthenticationError(CoordinatorError, PermissionError):
    """No valid credentials: sign in (again)."""

    status_code = 401
    code = "not_authenticated"


class ForbiddenError(CoordinatorError, PermissionError):
    """Signed in, but this role may not do this."""

    status_code = 403
    code = "forbidden"


class NotFoundError(CoordinatorError, LookupError):
    """No such object, or not one the caller may see (the two are not told apart)."""

    status_code = 404
    code = "not_found"


class ConflictError(CoordinatorError, ValueError):
    """The change clashes with what is stored (a duplicate, an overlap, a wrong state)."""

    status_code = 409
    code = "conflict"


class InvalidInputError(CoordinatorError, ValueError):
    """Input that is well-formed but not acceptable, named by field."""

    status_code = 422
    code = "invalid_input"


class RateLimitedError(CoordinatorError, RuntimeError):
    """Too many attempts; wait `retry_after_s` seconds before trying again."""

    status_code = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = max(1, retry_after_s)


class BrokerError(CoordinatorError, ConnectionError):
    """The MQTT broker refused us or did not answer: check its address and our account."""

    status_code = 503
    code = "broker"
