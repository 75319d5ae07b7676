"""Defences against cross-site requests that ride on a signed-in browser.

- Every page load gives the browser a random `replyx_browser` cookie (HttpOnly,
  SameSite=Strict). Sign-in binds its one-use login ticket to that cookie (it reaches the
  server with the sign-in form's websocket handshake), and `/api/auth/session` redeems a
  ticket only for the same cookie: a ticket link handed to another browser, or opened from
  another site (where a Strict cookie is not sent), signs nobody in.
- `same_origin_request` refuses state-changing requests that a browser marked as coming
  from another origin (the `Origin` header, else `Sec-Fetch-Site`), so a form on another
  site cannot sign a visitor out or post to the API with their cookie.
- No response grants credentialed CORS: Reflex wraps the whole app in Starlette's CORS
  middleware with `allow_credentials=True`, which put `Access-Control-Allow-Credentials:
  true` on the widget session endpoint's answers to tenants' sites (it reads no cookie).
  The dashboard is served from the app's own origin and needs no CORS at all, so
  `no_credentialed_cors` replaces Reflex's CORS set-up with the same one without
  credentials (Reflex 0.10 has no setting for it; tests/e2e/test_widget_loader.py fails
  if an upgrade brings the header back).

Cross-site websockets are refused by the Socket.IO server itself, which checks `Origin`
against `cors_allowed_origins` (rxconfig.py: the configured dashboard origins).
"""

from __future__ import annotations

import secrets
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backend_services.core.settings import get_settings
from state.cookies import BROWSER_COOKIE, read_cookie

BROWSER_COOKIE_MAX_AGE = 400 * 24 * 3600  # browsers cap cookie lifetimes at 400 days


def allowed_origins() -> list[str]:
    s = get_settings()
    return [o.rstrip("/") for o in (s.allowed_origins or [s.base_url])]


def cross_site(origin: str | None, fetch_site: str | None) -> bool:
    """True when the browser says the request comes from another origin. Requests with
    neither header come from non-browser clients, which carry no victim's cookie."""
    if origin and origin != "null":
        return origin.rstrip("/") not in allowed_origins()
    if origin == "null":  # sandboxed frames, data: URLs, some cross-site redirects
        return True
    return fetch_site not in (None, "", "same-origin", "none")


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return ""


class CrossSiteGuard:
    """ASGI middleware: hands out the browser cookie on page loads."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        has_cookie = read_cookie(_header(scope, b"cookie"), BROWSER_COOKIE) is not None
        if has_cookie:
            await self.app(scope, receive, send)
            return

        async def send_wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers: list[Any] = list(message.get("headers", []))
                content_type = next((v for k, v in headers if k.lower() == b"content-type"),
                                    b"")
                if content_type.startswith(b"text/html"):
                    headers.append((b"set-cookie", _browser_cookie().encode("latin-1")))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_wrapped)


def _browser_cookie() -> str:
    secure = "; Secure" if get_settings().base_url.startswith("https://") else ""
    return (f"{BROWSER_COOKIE}={secrets.token_urlsafe(24)}; Path=/; "
            f"Max-Age={BROWSER_COOKIE_MAX_AGE}; HttpOnly; SameSite=Strict{secure}")


def no_credentialed_cors() -> None:
    """Make Reflex add its CORS middleware without credentials (see the module doc)."""
    # Imported here: start-up path: patches Reflex before rx.App is built.
    from reflex.app import App
    from reflex_base.config import get_config
    from starlette.applications import Starlette
    from starlette.middleware.cors import CORSMiddleware

    def add_cors(api: Starlette) -> None:
        api.add_middleware(CORSMiddleware, allow_credentials=False, allow_methods=["*"],
                           allow_headers=["*"], allow_origins=get_config().cors_allowed_origins)

    App._add_cors = staticmethod(add_cors)  # type: ignore[method-assign]
