"""Platform-admin management of AI provider keys.

Keys are platform-wide (every workspace's assistants draw on the same pool), so only a
platform admin may see or change them. The secret is encrypted before it is stored and
never leaves this module again except inside the pool, decrypted for the one request
that needs it; views carry only a hint (its last four characters).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend_services.ai.pool import forget_key
from backend_services.core import audit
from backend_services.core.db import session_scope
from backend_services.core.errors import NotFound, ValidationFailed
from backend_services.core.principal import Principal
from backend_services.core.security import encrypt_secret, secret_hint
from backend_services.core.views import view_from
from backend_services.models import AIProviderKey, AIUsage

MAX_MODELS = 50


async def _audit(
    session: AsyncSession,
    principal: Principal,
    action: str,
    target: str,
    details: dict[str, Any] | None = None,
) -> None:
    """Keys belong to the platform, not to the admin's own workspace: log them globally."""
    await audit.record(
        session,
        action,
        actor_user_id=principal.user_id,
        target=target,
        ip=principal.ip,
        details=details,
    )


@dataclass(frozen=True)
class KeyView:
    """What the admin panel shows of a key: settings, health and the last 24 h of use."""

    id: int
    name: str
    base_url: str
    key_hint: str
    models: list[str]
    requests_per_minute: int
    tokens_per_minute: int
    is_enabled: bool
    disabled_reason: str
    cooldown_until: datetime | None
    created_at: datetime
    requests_24h: int
    tokens_24h: int
    errors_24h: int

    @property
    def cooling_down(self) -> bool:
        return self.cooldown_until is not None and self.cooldown_until > datetime.now(UTC)


def _clean_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise ValidationFailed("Give the key a name, e.g. “OpenAI main”.")
    if len(name) > 120:
        raise ValidationFailed("The key name is too long (120 characters at most).")
    return name


def _clean_base_url(base_url: str) -> str:
    """Only http(s) with a host: anything else would make the server fetch odd URLs."""
    url = base_url.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationFailed(
            "The base URL must start with http:// or https:// and name a host, "
            "e.g. https://api.openai.com/v1."
        )
    if parts.username or parts.password:
        raise ValidationFailed("Put the API key in its own field, not in the base URL.")
    if len(url) > 500:
        raise ValidationFailed("The base URL is too long (500 characters at most).")
    return url


def _clean_api_key(api_key: str) -> str:
    key = api_key.strip()
    if not key:
        raise ValidationFailed("Paste the API key.")
    if any(ch.isspace() for ch in key) or len(key) > 4096:
        raise ValidationFailed("That does not look like an API key (spaces or far too long).")
    return key


def _clean_models(models: list[str]) -> list[str]:
    """Empty means “any model”: handy for a local server that serves whatever it has."""
    seen: list[str] = []
    for raw in models:
        m = raw.strip()
        if not m:
            continue
        if len(m) > 120:
            raise ValidationFailed(f"The model name “{m[:40]}…” is too long.")
        if m not in seen:
            seen.append(m)
    if len(seen) > MAX_MODELS:
        raise ValidationFailed(f"List at most {MAX_MODELS} models per key.")
    return seen


def _clean_limit(value: int, what: str) -> int:
    if value < 1:
        raise ValidationFailed(f"The {what} limit must be at least 1.")
    if value > 1_000_000_000:
        raise ValidationFailed(f"The {what} limit is unreasonably large.")
    return int(value)


async def add_key(
    principal: Principal,
    name: str,
    base_url: str,
    api_key: str,
    models: list[str],
    requests_per_minute: int,
    tokens_per_minute: int,
) -> KeyView:
    principal.require_platform_admin()
    row = AIProviderKey(
        name=_clean_name(name),
        base_url=_clean_base_url(base_url),
        api_key_encrypted=encrypt_secret(_clean_api_key(api_key)),
        key_hint=secret_hint(api_key.strip()),
        models=_clean_models(models),
        requests_per_minute=_clean_limit(requests_per_minute, "requests-per-minute"),
        tokens_per_minute=_clean_limit(tokens_per_minute, "tokens-per-minute"),
    )
    async with session_scope() as session:
        session.add(row)
        await session.flush()
        assert row.id is not None
        await _audit(
            session,
            principal,
            "ai_key_added",
            target=f"ai_key:{row.id}",
            details={"name": row.name, "base_url": row.base_url, "models": row.models},
        )
    return _view(row, 0, 0, 0)


def _view(row: AIProviderKey, requests: int, tokens: int, errors: int) -> KeyView:
    assert row.id is not None
    return view_from(KeyView, row, models=list(row.models or []), requests_24h=requests,
                     tokens_24h=tokens, errors_24h=errors)


async def list_keys(principal: Principal) -> list[KeyView]:
    """Every key with its last-24-hour totals, in one query for the usage side."""
    principal.require_platform_admin()
    since = datetime.now(UTC) - timedelta(hours=24)
    usage = (
        select(
            col(AIUsage.key_id),
            sa.func.count().label("requests"),
            sa.func.coalesce(sa.func.sum(col(AIUsage.tokens_in) + col(AIUsage.tokens_out)), 0),
            sa.func.count().filter(col(AIUsage.status) != "ok"),
        )
        .where(col(AIUsage.created_at) >= since, col(AIUsage.key_id).is_not(None))
        .group_by(col(AIUsage.key_id))
    )
    async with session_scope() as session:
        keys = (await session.exec(select(AIProviderKey).order_by(col(AIProviderKey.id)))).all()
        totals = {
            int(key_id): (int(req), int(tok), int(err))
            for key_id, req, tok, err in (await session.exec(usage)).all()
            if key_id is not None
        }
    return [_view(k, *totals.get(k.id or 0, (0, 0, 0))) for k in keys]


async def set_enabled(principal: Principal, key_id: int, enabled: bool) -> None:
    """Re-enabling clears the reason and any cooldown: the admin says “try it again now”."""
    principal.require_platform_admin()
    async with session_scope() as session:
        row = await session.get(AIProviderKey, key_id, with_for_update=True)
        if row is None:
            raise NotFound("AI provider key not found.")
        row.is_enabled = enabled
        if enabled:
            row.disabled_reason = ""
            row.cooldown_until = None
        else:
            row.disabled_reason = f"Turned off by {principal.email or 'a platform admin'}."[:300]
        session.add(row)
        await _audit(
            session,
            principal,
            "ai_key_enabled" if enabled else "ai_key_disabled",
            target=f"ai_key:{key_id}",
        )


async def delete_key(principal: Principal, key_id: int) -> None:
    """Past usage rows stay (their key_id becomes NULL) so spending history is not lost."""
    principal.require_platform_admin()
    async with session_scope() as session:
        row = await session.get(AIProviderKey, key_id, with_for_update=True)
        if row is None:
            raise NotFound("AI provider key not found.")
        await session.delete(row)
        await _audit(
            session,
            principal,
            "ai_key_deleted",
            target=f"ai_key:{key_id}",
            details={"name": row.name},
        )
    await forget_key(key_id)
