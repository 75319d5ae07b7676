"""ASGI middleware around the whole app (API, Reflex websocket, compiled pages):
security headers on every HTTP response, request metrics, websocket connection gauge."""

from __future__ import annotations

import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backend_services.metrics import HTTP_LATENCY, HTTP_REQUESTS, WS_CONNECTIONS, route_label

APP_PAGE_HEADERS: list[tuple[bytes, bytes]] = [
    (b"content-security-policy", b"frame-ancestors 'self'"),
    (b"x-frame-options", b"SAMEORIGIN"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"strict-origin-when-cross-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
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

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                headers: list[Any] = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                headers.extend(h for h in APP_PAGE_HEADERS if h[0] not in present)
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
