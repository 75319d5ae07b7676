"""Domain errors. Each carries a message fit to show a user; the UI maps them in one place."""

from __future__ import annotations


class DomainError(Exception):
    code = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(DomainError):
    code = "not_found"


class PermissionDenied(DomainError):
    code = "forbidden"


class NotAuthenticated(DomainError):
    code = "unauthenticated"


class ValidationFailed(DomainError):
    code = "invalid"


class Conflict(DomainError):
    code = "conflict"


class RateLimited(DomainError):
    code = "rate_limited"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Busy(DomainError):
    """This process is already answering as many messages as it can take on: the message
    was not stored, and the same message sent again a little later will be."""

    code = "busy"
