"""Cookie endpoints: the websocket cannot set or clear an HttpOnly cookie, these can."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import RedirectResponse

from backend_services.core.settings import get_settings
from backend_services.identity import auth
from replyx_app.api.deps import client_ip
from replyx_app.cross_site import cross_site
from state.cookies import BROWSER_COOKIE, SESSION_COOKIE

router = APIRouter(prefix="/api/auth", tags=["auth"])


@router.get("/session", include_in_schema=False)
async def start_session(request: Request, ticket: str = "",
                        next: str = "/dashboard") -> RedirectResponse:
    # Only the browser that signed in holds the cookie the ticket is bound to.
    sid = await auth.redeem_login_ticket(ticket, request.cookies.get(BROWSER_COOKIE) or "")
    if sid is None:
        return RedirectResponse("/login", status_code=303)
    settings = get_settings()
    response = RedirectResponse(auth.safe_next(next), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        sid,
        max_age=settings.session_max_hours * 3600,
        httponly=True,
        secure=settings.base_url.startswith("https://"),
        samesite="lax",
        path="/",
    )
    return response


@router.post("/logout", include_in_schema=False)
async def logout(request: Request) -> RedirectResponse:
    """POST from our own pages only: a link or a form on another site signs nobody out."""
    if cross_site(request.headers.get("origin"), request.headers.get("sec-fetch-site")):
        raise HTTPException(status_code=403, detail="Cross-site request refused.")
    await auth.logout(request.cookies.get(SESSION_COOKIE), ip=client_ip(request))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
