"""FastAPI dependencies: the principal from the session cookie or a workspace API key, the
client address, JSON-only mutations."""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable

from fastapi import HTTPException, Request

from backend_services.core import client_ip as client_address
from backend_services.core.errors import NotAuthenticated
from backend_services.core.principal import Principal
from backend_services.core.settings import get_settings
from backend_services.identity import auth
from backend_services.integrations import api_keys
from backend_services.integrations.api_keys import Scope
from replyx_app.cross_site import cross_site
from state.cookies import SESSION_COOKIE

FORWARDING_HEADERS = ("x-forwarded-for", "forwarded", "x-real-ip")


def client_ip(request: Request) -> str:
    """The real client address: the peer, or the proxy-written X-Forwarded-For entry when
    REPLYX_TRUSTED_PROXY_HOPS says proxies we run are in front (the rule Reflex applies)."""
    peer = request.client.host if request.client else ""
    return client_address.resolve(peer, ", ".join(request.headers.getlist("x-forwarded-for")))


def is_loopback_client(request: Request) -> bool:
    """True only for a request made on this machine: the TCP peer (never a forwarding
    header) is 127.0.0.0/8 or ::1. Behind a reverse proxy the peer is the proxy, which
    may well be on this machine too, so a request that was forwarded (it carries a
    forwarding header, or REPLYX_TRUSTED_PROXY_HOPS says a proxy is in front) is not."""
    if get_settings().trusted_proxy_hops > 0:
        return False
    if any(name in request.headers for name in FORWARDING_HEADERS):
        return False
    try:
        ip = ipaddress.ip_address(client_ip(request))
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


async def optional_principal(request: Request) -> Principal | None:
    """The signed-in principal, or None when the session cookie is missing or ended."""
    try:
        return await auth.authenticate(
            request.cookies.get(SESSION_COOKIE), ip=client_ip(request)
        )
    except NotAuthenticated:
        return None


async def current_principal(request: Request) -> Principal:
    """NotAuthenticated becomes a 401 in replyx_app/api/errors.py, like every domain error."""
    return await auth.authenticate(request.cookies.get(SESSION_COOKIE), ip=client_ip(request))


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    return header[7:].strip() if header[:7].lower() == "bearer " else None


def api_caller(scope: Scope) -> Callable[[Request], Awaitable[Principal]]:
    """The principal of a public API request: a workspace API key (`Authorization: Bearer
    rxk_…`, checked for `scope`), else the signed-in session, whose role decides as on the
    dashboard."""

    async def dependency(request: Request) -> Principal:
        token = bearer_token(request)
        if token is not None:
            return await api_keys.authenticate(token, scope, ip=client_ip(request))
        return await current_principal(request)

    return dependency


READ, WRITE, KNOWLEDGE = api_caller("read"), api_caller("write"), api_caller("knowledge")


async def require_json(request: Request) -> None:
    """Mutations accept JSON only (a cross-site form cannot send it without a CORS
    preflight), and never from a page the browser says belongs to another site. A request
    with a bearer token carries no cookie a browser would add by itself, so the
    cross-site checks do not apply to it."""
    if request.method in ("POST", "PUT", "PATCH", "DELETE") and bearer_token(request) is None:
        if cross_site(request.headers.get("origin"), request.headers.get("sec-fetch-site")):
            raise HTTPException(status_code=403, detail="Cross-site request refused.")
        ctype = request.headers.get("content-type", "")
        if request.method != "DELETE" and not ctype.startswith("application/json"):
            raise HTTPException(status_code=415, detail="Send application/json.")
        if request.method == "DELETE" and request.headers.get("x-requested-with") is None:
            raise HTTPException(status_code=400, detail="Missing X-Requested-With header.")
