"""ASGI middleware around the whole app (API, Reflex websocket, compiled pages):
security headers on every HTTP response, request metrics, websocket connection gauge.

Every page may be framed by our own origin only, except the widget page (`/widget?w=…`),
which tenants' websites embed: its `frame-ancestors` lists that widget's allowed origins
('none' for an unknown or switched-off widget) and it sends no X-Frame-Options (which
cannot express a list and would override the CSP in old browsers).
"""

from __future__ import annotations

import logging
import re
import time
from typing import Any
from urllib.parse import parse_qs

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backend_services.metrics import HTTP_LATENCY, HTTP_REQUESTS, WS_CONNECTIONS, route_label
from backend_services.widget import settings as widget_settings

log = logging.getLogger(__name__)

APP_PAGE_HEADERS: list[tuple[bytes, bytes]] = [
    (b"content-security-policy", b"frame-ancestors 'self'"),
    (b"x-frame-options", b"SAMEORIGIN"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"strict-origin-when-cross-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
]

WIDGET_PAGE_PATHS = frozenset({"/widget", "/widget/", "/widget/index.html"})
_SAFE_ORIGIN = re.compile(r"^https?://[A-Za-z0-9.\-\[\]:]+$")


async def widget_page_headers(query_string: bytes) -> list[tuple[bytes, bytes]]:
    """Security headers of the widget page for the widget named by `?w=`."""
    public_id = parse_qs(query_string.decode("latin-1")).get("w", [""])[0]
    try:
        origins = await widget_settings.cached_allowed_origins(public_id)
    except Exception:  # the database is down: refuse framing rather than fail the page
        log.exception("could not read the allowed origins of widget %r", public_id[:40])
        origins = None
    # Stored origins are validated on save; filter again so nothing can break the header.
    listed = [o for o in origins or () if _SAFE_ORIGIN.match(o)]
    ancestors = " ".join(listed) if listed else "'none'"
    return [
        (b"content-security-policy", f"frame-ancestors {ancestors}".encode()),
        *(h for h in APP_PAGE_HEADERS if h[0] not in (b"content-security-policy",
                                                      b"x-frame-options")),
    ]


class SecurityAndMetrics:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            WS_CONNECTIONS.inc()
            try:
                await self.app(scope, receive, send)
            finally:
                WS_CONNECTIONS.dec()
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        start = time.perf_counter()
        status = {"code": 500}
        extra = APP_PAGE_HEADERS
        framing: tuple[bytes, ...] = ()  # response headers that ours replace
        if path in WIDGET_PAGE_PATHS:
            extra = await widget_page_headers(scope.get("query_string", b""))
            framing = (b"content-security-policy", b"x-frame-options")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                headers: list[Any] = [
                    h for h in message.get("headers", []) if h[0].lower() not in framing
                ]
                present = {k.lower() for k, _ in headers}
                headers.extend(h for h in extra if h[0] not in present)
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            route = route_label(path)
            method = scope.get("method", "GET")
            if not path.startswith("/_event"):  # long-poll fallback would skew latency
                HTTP_REQUESTS.labels(method, route, str(status["code"])).inc()
                HTTP_LATENCY.labels(method, route).observe(time.perf_counter() - start)
