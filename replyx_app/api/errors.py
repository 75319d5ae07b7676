"""One mapping from domain errors to HTTP responses, for every REST route.

Services raise `DomainError`s with messages fit for users; routes let them through and
this handler answers `{"detail": message}` (FastAPI's own error shape) with the status a
client can act on. Routes that speak another shape (the widget's CORS-aware answers, the
Telegram webhook) catch what they need themselves.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from backend_services.core.errors import (
    BalanceSpent,
    Busy,
    Conflict,
    DomainError,
    NotAuthenticated,
    NotFound,
    PermissionDenied,
    RateLimited,
    StorageUnavailable,
)

# Anything else a service refuses is a request that cannot be done as sent: 422.
STATUS: dict[type[DomainError], int] = {
    NotAuthenticated: 401,
    PermissionDenied: 403,
    NotFound: 404,
    Conflict: 409,
    RateLimited: 429,
    Busy: 503,
    StorageUnavailable: 503,
    BalanceSpent: 402,
}


def status_for(exc: DomainError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 409 if exc.code == "conflict" else 422


async def domain_error_response(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)  # registered for DomainError only
    headers: dict[str, str] = {}
    if isinstance(exc, RateLimited):
        headers["Retry-After"] = str(exc.retry_after)
    return JSONResponse({"detail": exc.message}, status_code=status_for(exc), headers=headers)


def install(api: FastAPI) -> None:
    api.add_exception_handler(DomainError, domain_error_response)
