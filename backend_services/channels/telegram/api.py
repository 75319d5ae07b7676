"""The few Bot API calls the dashboard makes itself: check a token with `getMe`.

The fleet talks to Telegram through aiogram; the dashboard only needs to know, at the
moment a tenant pastes a token, whether Telegram accepts it and which bot it is. Requests
go to `{telegram_api_base}/bot{token}/{method}`, so a self-hosted Bot API server (or the
test server) works the same way.

A token is a password to the bot: it never appears in a log line, an error message or an
exception chained to one. httpx logs every request URL at INFO, and the URL contains the
token, so a filter on httpx's loggers masks it before any handler sees the record.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

import httpx

from backend_services.core.errors import ValidationFailed
from backend_services.core.settings import get_settings

# `<bot id>:<secret>`; Telegram's secrets are 35 characters today, leave room for change.
TOKEN_RE = re.compile(r"^(\d{3,20}):([A-Za-z0-9_-]{20,100})$")
# Anything token-like in a URL path or text (also `bot<token>` inside API URLs).
_TOKEN_ANYWHERE = re.compile(r"\d{3,20}:[A-Za-z0-9_-]{20,100}")
TIMEOUT_SECONDS = 10.0

UNREACHABLE = (
    "Could not reach Telegram to check the token. Try again in a minute; if this keeps "
    "happening, the server may have no route to the Telegram Bot API."
)
REFUSED = (
    "Telegram refused this token: it is wrong or has been revoked. "
    "Copy it again from @BotFather."
)


def redact(text: str) -> str:
    """Mask every bot token in `text` (keeps the bot id, which is public)."""
    return _TOKEN_ANYWHERE.sub(lambda m: m.group(0).split(":", 1)[0] + ":***", text)


class _RedactTokens(logging.Filter):
    """Masks bot tokens in records of the HTTP client loggers (they log request URLs)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            args = record.args if isinstance(record.args, tuple) else (record.args,)
            record.args = tuple(redact(str(a)) if _is_texty(a) else a for a in args)
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        return True


def _is_texty(value: Any) -> bool:
    return isinstance(value, (str, httpx.URL))


def _install_filter() -> None:
    # Filters apply only to records logged on that very logger; httpx logs requests on
    # "httpx" itself.
    logger = logging.getLogger("httpx")
    if not any(isinstance(f, _RedactTokens) for f in logger.filters):
        logger.addFilter(_RedactTokens())


_install_filter()


@dataclass(frozen=True)
class BotIdentity:
    """Who a token belongs to, as `getMe` says."""

    bot_id: int
    username: str
    first_name: str


def clean_token(raw: str) -> tuple[str, int]:
    """The token without surrounding spaces, and the bot id it names; or ValidationFailed."""
    token = raw.strip()
    if token.lower().startswith("bot") and TOKEN_RE.match(token[3:]):
        token = token[3:]  # copied from an API URL
    match = TOKEN_RE.match(token)
    if not match:
        raise ValidationFailed(
            "That does not look like a bot token. It looks like 123456789:AAH…, "
            "and @BotFather shows it when you create a bot or send /token."
        )
    return token, int(match.group(1))


def api_base() -> str:
    return get_settings().telegram_api_base.rstrip("/")


def method_url(token: str, method: str) -> str:
    return f"{api_base()}/bot{token}/{method}"


async def _call(token: str, method: str, seconds: float) -> httpx.Response:
    async with httpx.AsyncClient(timeout=seconds, follow_redirects=False) as client:
        return await client.post(method_url(token, method))


async def get_me(token: str) -> BotIdentity:
    """Ask Telegram who this token belongs to; every failure becomes a clear message.

    Exceptions are not chained: an httpx error carries the request, and its URL carries
    the token.
    """
    try:
        response = await _call(token, "getMe", TIMEOUT_SECONDS)
    except httpx.HTTPError:
        raise ValidationFailed(UNREACHABLE) from None
    if response.status_code in (401, 404):
        # 404 is what Telegram answers for a token of the right shape that names no bot.
        raise ValidationFailed(REFUSED)
    if response.status_code == 429:
        retry = _retry_after(response)
        raise ValidationFailed(
            f"Telegram asks us to slow down. Try again in {retry} s." if retry else
            "Telegram asks us to slow down. Try again in a minute."
        )
    if response.status_code >= 500:
        raise ValidationFailed(UNREACHABLE)
    try:
        body = response.json()
        result: dict[str, Any] = body["result"] if body.get("ok") else {}
        bot_id = int(result["id"])
        username = str(result.get("username") or "")
        first_name = str(result.get("first_name") or "")
        is_bot = bool(result.get("is_bot", True))
    except (ValueError, KeyError, TypeError, AttributeError):
        raise ValidationFailed(
            "Telegram answered something unexpected while checking the token. Try again."
        ) from None
    if not is_bot or not username:
        raise ValidationFailed("This token does not belong to a bot with a username.")
    return BotIdentity(bot_id=bot_id, username=username, first_name=first_name)


def _retry_after(response: httpx.Response) -> int:
    try:
        value = response.json().get("parameters", {}).get("retry_after")
        return max(1, int(value)) if value is not None else 0
    except (ValueError, TypeError, AttributeError):
        return 0


async def delete_webhook_quietly(token: str) -> bool:
    """Best effort `deleteWebhook` (a deleted bot must stop sending us updates)."""
    try:
        response = await _call(token, "deleteWebhook", 5.0)
    except httpx.HTTPError:
        return False
    return response.status_code == 200
