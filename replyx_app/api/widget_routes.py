"""The widget's public HTTP surface: the loader script and the visitor session endpoint.

Both are called from tenants' websites, i.e. from origins we do not know in advance, so
CORS is decided here per widget, never by the app-wide list:

- `GET /widget.js` is a classic script: no CORS needed. Short cache plus an ETag, so a
  new loader reaches every site within minutes and unchanged ones cost a 304.
- `POST /api/widget/session` grants `Access-Control-Allow-Origin: <that origin>` only when
  the origin is on the widget's list, and never `*`. The loader sends a CORS-safelisted
  request (`Content-Type: text/plain`, no custom headers, no cookies), so browsers send no
  preflight: Reflex's app-wide CORS middleware answers every preflight itself, from the
  dashboard origins only, before a route could. The body is JSON all the same.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from backend_services.core.errors import NotFound, PermissionDenied, RateLimited
from backend_services.core.settings import ROOT
from backend_services.widget import settings as widget_settings
from backend_services.widget import visitors
from replyx_app.api.deps import client_ip

router = APIRouter(tags=["widget"])

LOADER_PATH = ROOT / "assets" / "widget.js"
LOADER_MAX_AGE = 300
MAX_BODY = 4096


@dataclass(frozen=True)
class _Loader:
    mtime_ns: int
    body: bytes
    gzipped: bytes
    etag: str


_loader: _Loader | None = None


def _load_loader() -> _Loader:
    """The loader's bytes, re-read only when the file changes (it is tiny)."""
    global _loader
    mtime = LOADER_PATH.stat().st_mtime_ns
    if _loader is None or _loader.mtime_ns != mtime:
        body = LOADER_PATH.read_bytes()
        etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
        _loader = _Loader(mtime, body, gzip.compress(body, 9, mtime=0), etag)
    return _loader


@router.api_route("/widget.js", methods=["GET", "HEAD"], include_in_schema=False)
async def loader_script(request: Request) -> Response:
    loader = _load_loader()
    headers = {
        "Cache-Control": f"public, max-age={LOADER_MAX_AGE}",
        "ETag": loader.etag,
        "Vary": "Accept-Encoding",
        "Cross-Origin-Resource-Policy": "cross-origin",
    }
    wanted = request.headers.get("if-none-match", "")
    if loader.etag in {t.strip().removeprefix("W/") for t in wanted.split(",")}:
        return Response(status_code=304, headers=headers)
    body = loader.body
    if "gzip" in request.headers.get("accept-encoding", "").lower():
        body = loader.gzipped
        headers["Content-Encoding"] = "gzip"
    return Response(body, media_type="text/javascript; charset=utf-8", headers=headers)


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        {"error": message},
        status_code=status,
        headers={"Cache-Control": "no-store", "Vary": "Origin", **(headers or {})},
    )


def _str_or_none(value: Any, limit: int) -> str | None:
    return value if isinstance(value, str) and 0 < len(value) <= limit else None


@router.post("/api/widget/session", include_in_schema=False)
async def open_session(request: Request) -> JSONResponse:
    """Start or resume a visitor's session: a token, the visitor credential, the config."""
    origin = request.headers.get("origin")
    raw = await request.body()
    if len(raw) > MAX_BODY:
        return _error(413, "ReplyX: the request is too large.")
    try:
        data = json.loads(raw or b"{}")
    except ValueError:
        data = None
    if not isinstance(data, dict):
        return _error(400, "ReplyX: send a JSON object such as {\"widget\": \"wid_…\"}.")
    public_id = _str_or_none(data.get("widget"), 64) or ""
    try:
        session = await visitors.open_session(
            public_id,
            origin,
            ip=client_ip(request),
            visitor_id=_str_or_none(data.get("visitor_id"), 64),
            visitor_sig=_str_or_none(data.get("visitor_sig"), 128),
        )
    except NotFound as exc:
        # Unknown or switched off: any page may read that (the id is in its own source, and
        # "off" reveals nothing), so its owner sees why in the console, not a guess.
        return _error(403, exc.message,
                      {"Access-Control-Allow-Origin": origin} if origin else None)
    except PermissionDenied as exc:
        return _error(403, exc.message)  # no CORS grant: the refused page learns nothing
    except RateLimited as exc:
        headers = {"Retry-After": str(exc.retry_after)}
        # A listed site may read why (cached lookup: the limited path must stay cheap).
        origins = await widget_settings.cached_allowed_origins(public_id)
        if origin and origins is not None and origin in origins:
            headers["Access-Control-Allow-Origin"] = origin
        return _error(429, "ReplyX: " + exc.message, headers)
    assert origin is not None  # open_session refuses a missing origin
    return JSONResponse(
        {
            "token": session.token.token,
            "expires_in": session.token.expires_in,
            "visitor_id": session.credential.visitor_id,
            "visitor_sig": session.credential.visitor_sig,
            "config": session.config.client_dict(),
        },
        headers={
            "Access-Control-Allow-Origin": origin,
            "Vary": "Origin",
            "Cache-Control": "no-store",
        },
    )
