"""FastAPI dependencies: the principal from the session cookie, and error mapping."""

from __future__ import annotations

from fastapi import HTTPException, Request

from backend_services import auth
from backend_services import client_ip as client_address
from backend_services.errors import DomainError, NotAuthenticated, NotFound, PermissionDenied
from backend_services.principal import Principal
from state.session import SESSION_COOKIE


def client_ip(request: Request) -> str:
    """The real client address: the peer, or the proxy-written X-Forwarded-For entry when
    REPLYX_TRUSTED_PROXY_HOPS says proxies we run are in front (the rule Reflex applies)."""
    peer = request.client.host if request.client else ""
    return client_address.resolve(peer, ", ".join(request.headers.getlist("x-forwarded-for")))


async def current_principal(request: Request) -> Principal:
    try:
        return await auth.authenticate(
            request.cookies.get(SESSION_COOKIE), ip=client_ip(request)
        )
    except NotAuthenticated as exc:
        raise HTTPException(status_code=401, detail=exc.message) from exc


def http_error(exc: DomainError) -> HTTPException:
    status = {
        NotAuthenticated: 401,
        PermissionDenied: 403,
        NotFound: 404,
    }.get(type(exc), 422)
    if exc.code == "conflict":
        status = 409
    return HTTPException(status_code=status, detail=exc.message)


async def require_json(request: Request) -> None:
    """Mutations accept JSON only: a cross-site form cannot send it without a CORS preflight."""
    if request.method in ("POST", "PUT", "PATCH", "DELETE"):
        ctype = request.headers.get("content-type", "")
        if request.method != "DELETE" and not ctype.startswith("application/json"):
            raise HTTPException(status_code=415, detail="Send application/json.")
        if request.method == "DELETE" and request.headers.get("x-requested-with") is None:
            raise HTTPException(status_code=400, detail="Missing X-Requested-With header.")
