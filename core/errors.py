"""Domain errors, translated to HTTP responses once, at the web edge."""

from __future__ import annotations


class ParleyError(Exception):
    """Base class of every error Parley raises on purpose."""


class ConfigError(ParleyError):
    """A setting is missing or invalid."""


class ValidationError(ParleyError):
    """Input was rejected; ``fields`` maps each bad field to a reason."""

    def __init__(self, message: str, fields: dict[str, str] | None = None, code: str = "invalid") -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields or {}
        self.code = code


class NotFound(ParleyError):
    """The requested object does not exist."""


class Conflict(ParleyError):
    """The requested transition is not allowed from the object's current state."""


class Forbidden(ParleyError):
    """The caller may not act on this object (e.g. a missing or wrong author token)."""


class RateLimited(ParleyError):
    """The caller sent too many requests; retry after ``retry_after`` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many requests, retry after {retry_after} s")
        self.retry_after = retry_after


class BrokerUnavailable(ParleyError):
    """RabbitMQ could not be reached or gave up mid-operation; retry after ``retry_after`` seconds."""

    def __init__(self, message: str, retry_after: int = 5) -> None:
        super().__init__(message)
        self.retry_after = retry_after
