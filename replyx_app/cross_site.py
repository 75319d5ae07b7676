"""Defences against cross-site requests that ride on a signed-in browser.

- Every page load gives the browser a random `replyx_browser` cookie (HttpOnly,
  SameSite=Strict). Sign-in binds its one-use login ticket to that cookie (it reaches the
  server with the sign-in form's websocket handshake), and `/api/auth/session` redeems a
  ticket only for the same cookie: a ticket link handed to another browser, or opened from
  another site (where a Strict cookie is not sent), signs nobody in.
- `same_origin_request` refuses state-changing requests that a browser marked as coming
  from another origin (the `Origin` header, else `Sec-Fetch-Site`), so a form on another
  site cannot sign a visitor out or post to the API with their cookie.
- The widget's session endpoint answers tenants' sites with CORS but reads no cookie, so
  the app-wide `Access-Control-Allow-Credentials` is taken off its responses.

Cross-site websockets are refused by the Socket.IO server itself, which checks `Origin`
against `cors_allowed_origins` (rxconfig.py: the configured dashboard origins).
"""

from __future__ import annotations

import secrets
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backend_services.settings import get_settings
from state.session import BROWSER_COOKIE, read_cookie

BROWSER_COOKIE_MAX_AGE = 400 * 24 * 3600  # browsers cap cookie lifetimes at 400 days
_CREDENTIAL_FREE_PATHS = frozenset({"/api/widget/session"})


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
    """ASGI middleware: hands out the browser cookie on page loads and keeps credentials
    off the credential-free CORS endpoints."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        has_cookie = read_cookie(_header(scope, b"cookie"), BROWSER_COOKIE) is not None
        strip_credentials = path in _CREDENTIAL_FREE_PATHS

        async def send_wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers: list[Any] = list(message.get("headers", []))
                if strip_credentials:
                    headers = [h for h in headers
                               if h[0].lower() != b"access-control-allow-credentials"]
                content_type = next((v for k, v in headers if k.lower() == b"content-type"),
                                    b"")
                if not has_cookie and content_type.startswith(b"text/html"):
                    headers.append((b"set-cookie", _browser_cookie().encode("latin-1")))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_wrapped)


def _browser_cookie() -> str:
    secure = "; Secure" if get_settings().base_url.startswith("https://") else ""
    return (f"{BROWSER_COOKIE}={secrets.token_urlsafe(24)}; Path=/; "
            f"Max-Age={BROWSER_COOKIE_MAX_AGE}; HttpOnly; SameSite=Strict{secure}")
