"""The client's address as every layer must see it: HTTP routes, the ASGI middleware and
Reflex's websocket all apply the same rule, so a failure counted on the socket (a wrong
password) and a ban enforced on HTTP name the same address.

`X-Forwarded-For` is written by the client unless it passed through proxies we run:
with `REPLYX_TRUSTED_PROXY_HOPS = N`, the N-th entry from the right is the one our
outermost proxy saw, and everything left of it is the client's own claim. This is the
rule Reflex applies to `router.session.client_ip` (reflex/app.py, `trusted_proxy_hops`);
keep the two identical.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from backend_services.core.settings import get_settings


def resolve(peer: str, forwarded_for: str) -> str:
    """The client address from the TCP peer and the (comma-joined) X-Forwarded-For values."""
    hops = get_settings().trusted_proxy_hops
    if hops > 0 and forwarded_for:
        entries = [e.strip() for e in forwarded_for.split(",") if e.strip()]
        if len(entries) >= hops:
            return entries[-hops]
    return peer


def from_asgi_scope(scope: Mapping[str, Any]) -> str:
    """The client address of an ASGI HTTP or websocket scope (repeated headers joined)."""
    client = scope.get("client")
    peer = str(client[0]) if client else ""
    forwarded = ", ".join(
        value.decode("latin-1")
        for name, value in scope.get("headers") or ()
        if name.lower() == b"x-forwarded-for"
    )
    return resolve(peer, forwarded)
