"""Health, metrics and (development only) the mail outbox."""

from __future__ import annotations

import asyncio
import html

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from backend_services.ai import keys as ai_keys
from backend_services.channels.telegram import stats as fleet_stats
from backend_services.core import health, mailer, metrics
from backend_services.core.settings import get_settings
from replyx_app.api.deps import is_loopback_client, optional_principal

router = APIRouter(tags=["system"])


@router.get("/api/health")
async def get_health() -> JSONResponse:
    """200 when the database, Redis, the schema and the workers are all fine; 503 otherwise."""
    report = await health.check()
    # AI providers are reported, not required: without a usable key assistants answer
    # from the knowledge, so this never turns the answer into a 503.
    checks = report["checks"]
    if not (checks["database"]["ok"] and checks["redis"]["ok"]):
        checks["ai_providers"] = {"ok": False, "error": "unknown: the database or Redis is down"}
    else:
        try:
            checks["ai_providers"] = await asyncio.wait_for(
                ai_keys.provider_health(), health.PROBE_TIMEOUT_SECONDS)
        except Exception as exc:
            checks["ai_providers"] = {"ok": False, "error": type(exc).__name__}
    return JSONResponse(report, status_code=200 if report["status"] == "ok" else 503)


@router.get("/metrics", include_in_schema=False)
async def get_metrics() -> Response:
    body, content_type = metrics.render()
    try:
        fleet = fleet_stats.render(await fleet_stats.read_all()).encode()
    except Exception:  # Redis down: /api/health says so; the app's own figures still count
        fleet = b""
    return Response(body + fleet, media_type=content_type)


@router.get("/api/dev/mail", include_in_schema=False)
async def dev_mail(request: Request) -> HTMLResponse:
    """Development only: the mails that would have been sent, newest first.

    They hold every user's password-reset and confirmation links, so the page is served
    only to a browser on this machine or to a signed-in platform admin; anyone else gets
    the same 404 as when the page does not exist at all."""
    settings = get_settings()
    if settings.production or settings.smtp_host:
        raise HTTPException(status_code=404)
    if not is_loopback_client(request):
        principal = await optional_principal(request)
        if principal is None or not principal.is_platform_admin:
            raise HTTPException(status_code=404)
    items = []
    for msg in mailer.read_outbox():
        body = msg.get_body(preferencelist=("plain",))
        text = body.get_content() if body is not None else ""
        items.append(
            "<article><h3>{}</h3><p><b>To:</b> {} · <b>Date:</b> {}</p><pre>{}</pre></article>"
            .format(*(html.escape(str(x)) for x in (msg["Subject"], msg["To"],
                                                     msg["Date"] or "", text)))
        )
    page = (
        "<!doctype html><meta charset=utf-8><title>Outbox · ReplyX</title>"
        "<style>body{font-family:system-ui;max-width:60rem;margin:2rem auto;padding:0 1rem}"
        "article{border:1px solid #ccc;border-radius:8px;padding:0 1rem;margin:1rem 0}"
        "pre{white-space:pre-wrap}</style><h1>Development outbox</h1>"
        + ("".join(items) or "<p>No mail yet.</p>")
    )
    return HTMLResponse(page)
