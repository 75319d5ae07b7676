"""Cookie endpoints: the websocket cannot set or clear an HttpOnly cookie, these can."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse

from backend_services import auth
from backend_services.settings import get_settings
from replyx_app.api.deps import client_ip
from state.public_auth import _safe_next
from state.session import SESSION_COOKIE

router = APIRouter(prefix="/api/auth", tags=["auth"])


@router.get("/session", include_in_schema=False)
async def start_session(ticket: str = "", next: str = "/dashboard") -> RedirectResponse:
    sid = await auth.redeem_login_ticket(ticket)
    if sid is None:
        return RedirectResponse("/login", status_code=303)
    settings = get_settings()
    response = RedirectResponse(_safe_next(next), status_code=303)
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


@router.get("/logout", include_in_schema=False)
async def logout(request: Request) -> RedirectResponse:
    await auth.logout(request.cookies.get(SESSION_COOKIE), ip=client_ip(request))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
