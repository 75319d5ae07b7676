"""ASGI middleware around the whole app (API, Reflex websocket, compiled pages):
address bans, security headers on every HTTP response, request metrics, websocket
connection gauge.

A banned address (backend_services.core.bans: it kept failing sign-ins, widget origin checks
or Telegram webhook secrets) gets 403 with Retry-After on every HTTP request and its
websocket handshakes are refused, in every worker (the ban lives in Redis). The address
is the real client's (backend_services.core.client_ip: X-Forwarded-For only through
REPLYX_TRUSTED_PROXY_HOPS), the same one Reflex and the API routes record failures under.
If Redis cannot be asked, requests pass: the ban is a defence in depth, not a gate whose
failure should take the whole app down.

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

from backend_services.core import bans, client_ip, traffic
from backend_services.core.metrics import HTTP_LATENCY, HTTP_REQUESTS, WS_CONNECTIONS, route_label
from backend_services.widget import settings as widget_settings

log = logging.getLogger(__name__)

# Beyond framing: no plugins, no <base> or form targets elsewhere, and scripts from our own
# origin only. Inline scripts and eval stay allowed: our head scripts are inline and
# Reflex's call_script runs code through eval (docs/security.md). API responses get
# scripts from our origin too (the OpenAPI page's Swagger UI is served locally; its
# start-up script is inline), without eval.
PAGE_POLICY = ("object-src 'none'; base-uri 'self'; form-action 'self'; "
               "script-src 'self' 'unsafe-inline' 'unsafe-eval'")
API_POLICY = ("frame-ancestors 'self'; object-src 'none'; base-uri 'self'; "
              "script-src 'self' 'unsafe-inline'")

APP_PAGE_HEADERS: list[tuple[bytes, bytes]] = [
    (b"content-security-policy", f"frame-ancestors 'self'; {PAGE_POLICY}".encode()),
    (b"x-frame-options", b"SAMEORIGIN"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"strict-origin-when-cross-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
]

API_HEADERS: list[tuple[bytes, bytes]] = [
    (b"content-security-policy", API_POLICY.encode()),
    *(h for h in APP_PAGE_HEADERS if h[0] != b"content-security-policy"),
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
        (b"content-security-policy", f"frame-ancestors {ancestors}; {PAGE_POLICY}".encode()),
        *(h for h in APP_PAGE_HEADERS if h[0] not in (b"content-security-policy",
                                                      b"x-frame-options")),
    ]


_ban_lookup_failed_at = 0.0


async def ban_of(scope: Scope) -> bans.Ban | None:
    """The ban on the connecting address, or None (also when Redis does not answer)."""
    global _ban_lookup_failed_at
    try:
        return await bans.is_banned(client_ip.from_asgi_scope(scope))
    except Exception:
        if time.monotonic() - _ban_lookup_failed_at > 60:  # once a minute, not per request
            _ban_lookup_failed_at = time.monotonic()
            log.exception("could not check address bans; letting requests through")
        return None


async def refuse_http(ban: bans.Ban, send: Send) -> None:
    body = bans.banned_message(ban).encode()
    await send({
        "type": "http.response.start",
        "status": 403,
        "headers": [
            (b"content-type", b"text/plain; charset=utf-8"),
            (b"content-length", str(len(body)).encode()),
            (b"retry-after", str(ban.retry_after()).encode()),
            (b"cache-control", b"no-store"),
            *APP_PAGE_HEADERS,
        ],
    })
    await send({"type": "http.response.body", "body": body})


async def refuse_websocket(scope: Scope, ban: bans.Ban, receive: Receive, send: Send) -> None:
    """Refuse the handshake: a 403 with Retry-After where the server supports denial
    responses (uvicorn), else a close before accept, which servers (granian) answer with
    a bare 403. Either way the socket never opens."""
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    if "websocket.http.response" in (scope.get("extensions") or {}):
        body = bans.banned_message(ban).encode()
        await send({
            "type": "websocket.http.response.start",
            "status": 403,
            "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                        (b"content-length", str(len(body)).encode()),
                        (b"retry-after", str(ban.retry_after()).encode())],
        })
        await send({"type": "websocket.http.response.body", "body": body})
        return
    await send({"type": "websocket.close", "code": 1008})


class SecurityAndMetrics:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            ban = await ban_of(scope)
            if ban is not None:
                if scope["type"] == "websocket":
                    await refuse_websocket(scope, ban, receive, send)
                else:
                    await refuse_http(ban, send)
                    HTTP_REQUESTS.labels(scope.get("method", "GET"),
                                         route_label(scope.get("path", "")), "403").inc()
                    traffic.count_request(403)
                return
        if scope["type"] == "websocket":
            WS_CONNECTIONS.inc()
            traffic.socket_opened()
            try:
                await self.app(scope, receive, send)
            finally:
                WS_CONNECTIONS.dec()
                traffic.socket_closed()
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
        elif path.startswith("/api/"):
            extra = API_HEADERS

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
                traffic.count_request(status["code"])
