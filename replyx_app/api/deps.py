"""FastAPI dependencies: the principal from the session cookie, and error mapping."""

from __future__ import annotations

from fastapi import HTTPException, Request

from backend_services import auth
from backend_services.errors import DomainError, NotAuthenticated, NotFound, PermissionDenied
from backend_services.principal import Principal
from state.session import SESSION_COOKIE


def client_ip(request: Request) -> str:
    return request.client.host if request.client else ""


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
    """Mutations accept JSON only (a cross-site form cannot send it without a CORS
    preflight), and never from a page the browser says belongs to another site."""
    if request.method in ("POST", "PUT", "PATCH", "DELETE"):
        from replyx_app.cross_site import cross_site

        if cross_site(request.headers.get("origin"), request.headers.get("sec-fetch-site")):
            raise HTTPException(status_code=403, detail="Cross-site request refused.")
        ctype = request.headers.get("content-type", "")
        if request.method != "DELETE" and not ctype.startswith("application/json"):
            raise HTTPException(status_code=415, detail="Send application/json.")
        if request.method == "DELETE" and request.headers.get("x-requested-with") is None:
            raise HTTPException(status_code=400, detail="Missing X-Requested-With header.")
