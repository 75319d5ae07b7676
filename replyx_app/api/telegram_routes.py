"""Telegram webhook endpoint for bots in webhook mode.

Telegram POSTs each update with the bot's secret in `X-Telegram-Bot-Api-Secret-Token`;
the secret is random per bot and checked on every request (constant-time). A verified
update is appended to the `telegram-updates` Redis Stream and handled by the fleet (the
same handlers as polling), so the web app answers Telegram at once and a slow AI answer
never makes Telegram retry. Duplicates (Telegram retries) are harmless: the services key
the visitor's message by `tg:<channel>:<update id>`.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse

from backend_services.channels.telegram import updates as telegram_updates
from backend_services.core import bans
from replyx_app.api.deps import client_ip
from replyx_app.api.input_guard import body_checked_downstream

log = logging.getLogger(__name__)

router = APIRouter(tags=["telegram"])

MAX_UPDATE_BYTES = 1_000_000


@router.post("/api/telegram/webhook/{channel_id}", include_in_schema=False)
@body_checked_downstream
async def telegram_webhook(
    channel_id: int,
    request: Request,
    x_telegram_bot_api_secret_token: str = Header(default=""),
) -> JSONResponse:
    body = await request.body()
    if len(body) > MAX_UPDATE_BYTES:
        return JSONResponse({"ok": False, "error": "update too large"}, status_code=413)
    try:
        accepted = await telegram_updates.accept_update_secret(
            channel_id, x_telegram_bot_api_secret_token)
    except Exception as exc:
        return _not_stored(channel_id, exc)
    if not accepted:
        # Same answer for an unknown bot and a wrong secret: nothing to learn from it.
        # Both count towards a temporary ban of the address (Telegram itself always
        # sends the secret it was given with setWebhook).
        await bans.record_failure(bans.TELEGRAM_SECRET, client_ip(request))
        return JSONResponse({"ok": False, "error": "forbidden"}, status_code=403)
    try:
        update: Any = json.loads(body)
    except ValueError:
        return JSONResponse({"ok": False, "error": "not JSON"}, status_code=400)
    if not isinstance(update, dict) or not isinstance(update.get("update_id"), int):
        return JSONResponse({"ok": False, "error": "not an update"}, status_code=400)
    try:
        await telegram_updates.enqueue_update(None, channel_id, update)
    except Exception as exc:
        return _not_stored(channel_id, exc)
    return JSONResponse({"ok": True})


def _not_stored(channel_id: int, exc: Exception) -> JSONResponse:
    """A 2xx tells Telegram the update is ours; an update we could not check or queue
    (PostgreSQL or Valkey down) gets a 503, so Telegram delivers it again later."""
    log.warning("telegram webhook %s: update not queued (%s); asking Telegram to retry",
                channel_id, type(exc).__name__)
    return JSONResponse({"ok": False, "error": "try again later"}, status_code=503,
                        headers={"Retry-After": "5"})
