"""Domain errors. Each carries a message fit to show a user; the UI maps them in one place."""

from __future__ import annotations


class DomainError(Exception):
    code = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(DomainError):
    """The row does not exist, or belongs to another workspace: the two look the same."""

    code = "not_found"


class PermissionDenied(DomainError):
    """Signed in, but the role (or platform rights) does not allow this."""

    code = "forbidden"


class NotAuthenticated(DomainError):
    """No valid session: signed out, expired, revoked or blocked."""

    code = "unauthenticated"


class WorkspaceLeft(NotAuthenticated):
    """The session's workspace is no longer this person's (removed, or it was deleted);
    the session moved to another of theirs. The event that found out is not carried out
    there: it was meant for the old workspace."""


class ValidationFailed(DomainError):
    """The input is wrong; the message says what to change. Nothing was stored."""

    code = "invalid"


class Conflict(DomainError):
    """The input clashes with what is stored (a taken shortcut, a source added twice)."""

    code = "conflict"


class RateLimited(DomainError):
    """Too many attempts; `retry_after` seconds until the next is allowed."""

    code = "rate_limited"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Busy(DomainError):
    """This process is already answering as many messages as it can take on: the message
    was not stored, and the same message sent again a little later will be."""

    code = "busy"


class BalanceSpent(DomainError):
    """The workspace's prepaid balance is spent and this would cost money (billing)."""

    code = "balance_spent"


class StorageUnavailable(DomainError):
    """The file store (object storage) did not answer; nothing was stored."""

    code = "unavailable"
