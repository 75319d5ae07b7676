"""Platform-admin management of AI provider keys.

Keys are platform-wide (every workspace's assistants draw on the same pool), so only a
platform admin may see or change them. The secret is encrypted before it is stored and
never leaves this module again except inside the pool, decrypted for the one request
that needs it; views carry only a hint (its last four characters).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend_services.ai.pool import forget_key, tokens_spent
from backend_services.core import audit
from backend_services.core.db import session_scope, sql_rows
from backend_services.core.errors import NotFound, ValidationFailed
from backend_services.core.principal import Principal
from backend_services.core.security import encrypt_secret, secret_hint
from backend_services.core.views import view_from
from backend_services.models import AIProviderKey, AIUsage, Role

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
    priority: int = 100
    daily_token_quota: int = 0
    monthly_token_quota: int = 0
    tokens_today: int = 0
    tokens_this_month: int = 0
    last_error: str = ""
    last_error_at: datetime | None = None
    last_success_at: datetime | None = None

    @property
    def cooling_down(self) -> bool:
        return self.cooldown_until is not None and self.cooldown_until > datetime.now(UTC)

    @property
    def status(self) -> str:
        """One word for the panel and /api/health: why the pool would (not) use it now."""
        if not self.is_enabled:
            return "disabled"
        if self.cooling_down:
            return "cooling down"
        if self.daily_token_quota and self.tokens_today >= self.daily_token_quota:
            return "daily quota used"
        if self.monthly_token_quota and self.tokens_this_month >= self.monthly_token_quota:
            return "monthly quota used"
        return "active"


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


def _clean_quota(value: int, what: str) -> int:
    """0 means no quota."""
    if value < 0 or value > 10**15:
        raise ValidationFailed(f"The {what} quota is a number of tokens, 0 for none.")
    return int(value)


def _clean_priority(value: int) -> int:
    if not 0 <= value <= 1000:
        raise ValidationFailed("The priority is between 0 (tried first) and 1000.")
    return int(value)


@dataclass(frozen=True)
class KeySettings:
    """Everything about a key but its secret, as the add and edit forms send it."""

    name: str
    base_url: str
    models: list[str]
    requests_per_minute: int
    tokens_per_minute: int
    priority: int = 100
    daily_token_quota: int = 0
    monthly_token_quota: int = 0

    def cleaned(self) -> dict[str, Any]:
        return {
            "name": _clean_name(self.name),
            "base_url": _clean_base_url(self.base_url),
            "models": _clean_models(self.models),
            "requests_per_minute": _clean_limit(self.requests_per_minute,
                                                "requests-per-minute"),
            "tokens_per_minute": _clean_limit(self.tokens_per_minute, "tokens-per-minute"),
            "priority": _clean_priority(self.priority),
            "daily_token_quota": _clean_quota(self.daily_token_quota, "daily"),
            "monthly_token_quota": _clean_quota(self.monthly_token_quota, "monthly"),
        }


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
    *,
    priority: int = 100,
    daily_token_quota: int = 0,
    monthly_token_quota: int = 0,
) -> KeyView:
    principal.require_platform_admin()
    fields = KeySettings(name, base_url, models, requests_per_minute, tokens_per_minute,
                         priority, daily_token_quota, monthly_token_quota).cleaned()
    row = AIProviderKey(
        **fields,
        api_key_encrypted=encrypt_secret(_clean_api_key(api_key)),
        key_hint=secret_hint(api_key.strip()),
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


async def update_key(principal: Principal, key_id: int, settings: KeySettings,
                     new_api_key: str = "") -> None:
    """Edit a key in place; a new secret (rotation) replaces the old one and, since the
    old one's trouble may have been the secret, clears a disabled state and a cooldown.
    The audit row names what changed, never the secret."""
    principal.require_platform_admin()
    fields = settings.cleaned()
    secret = _clean_api_key(new_api_key) if new_api_key.strip() else ""
    async with session_scope() as session:
        row = await session.get(AIProviderKey, key_id, with_for_update=True)
        if row is None:
            raise NotFound("AI provider key not found.")
        changed = {k: {"from": getattr(row, k), "to": v} for k, v in fields.items()
                   if getattr(row, k) != v}
        for k, v in fields.items():
            setattr(row, k, v)
        if secret:
            row.api_key_encrypted = encrypt_secret(secret)
            row.key_hint = secret_hint(secret)
            row.is_enabled, row.disabled_reason, row.cooldown_until = True, "", None
            row.last_error, row.last_error_at = "", None
        if not changed and not secret:
            return
        session.add(row)
        if changed:
            await _audit(session, principal, "ai_key_updated", target=f"ai_key:{key_id}",
                         details=changed)
        if secret:
            await _audit(session, principal, "ai_key_rotated", target=f"ai_key:{key_id}",
                         details={"hint": row.key_hint})


def _view(row: AIProviderKey, requests: int, tokens: int, errors: int) -> KeyView:
    assert row.id is not None
    return view_from(KeyView, row, models=list(row.models or []), requests_24h=requests,
                     tokens_24h=tokens, errors_24h=errors, tokens_today=0,
                     tokens_this_month=0, last_success_at=None)


async def _views(keys: Sequence[AIProviderKey]) -> list[KeyView]:
    """Every key with its last-24-hour totals, quota use and last success."""
    since = datetime.now(UTC) - timedelta(hours=24)
    usage = (
        sa.select(
            col(AIUsage.key_id),
            sa.func.count().label("requests"),
            sa.func.coalesce(sa.func.sum(col(AIUsage.tokens_in) + col(AIUsage.tokens_out)), 0),
            sa.func.count().filter(col(AIUsage.status) != "ok"),
            sa.func.max(col(AIUsage.created_at)).filter(col(AIUsage.status) == "ok"),
        )
        .where(col(AIUsage.created_at) >= since, col(AIUsage.key_id).is_not(None))
        .group_by(col(AIUsage.key_id))
    )
    async with session_scope() as session:
        totals = {
            int(key_id): (int(req), int(tok), int(err), ok_at)
            for key_id, req, tok, err, ok_at in await sql_rows(session, usage)
            if key_id is not None
        }
    views = []
    for k in keys:
        assert k.id is not None
        req, tok, err, ok_at = totals.get(k.id, (0, 0, 0, None))
        views.append(replace(
            _view(k, req, tok, err), last_success_at=ok_at,
            tokens_today=await tokens_spent(k.id, "day"),
            tokens_this_month=await tokens_spent(k.id, "month")))
    return views


async def list_keys(principal: Principal) -> list[KeyView]:
    principal.require_platform_admin()
    async with session_scope() as session:
        keys = (await session.exec(select(AIProviderKey).order_by(
            col(AIProviderKey.priority), col(AIProviderKey.id)))).all()
    return await _views(keys)


async def provider_health() -> dict[str, Any]:
    """For /api/health (system level, no principal): each key's status by id, without
    names, URLs or messages, and whether any can answer now. Informational: with no
    usable key assistants still answer from the knowledge, so this never makes the
    service unhealthy."""
    async with session_scope() as session:
        keys = (await session.exec(select(AIProviderKey).order_by(col(AIProviderKey.id)))).all()
    views = await _views(keys)
    return {
        "ok": any(v.status == "active" for v in views),
        "configured": len(views),
        "keys": [{"id": v.id, "status": v.status,
                  "last_error_at": v.last_error_at.isoformat() if v.last_error_at else None}
                 for v in views],
    }


@dataclass(frozen=True)
class ModelChoices:
    """What an assistant's editor offers: the models the platform's enabled keys serve
    (names only), whether some key serves any model, and whether there is a key at all
    (no key: answers are extractive whatever model is chosen)."""

    models: list[str]
    any_model: bool
    configured: bool


async def model_choices(principal: Principal) -> ModelChoices:
    principal.require(Role.ADMIN)
    async with session_scope() as session:
        rows = (await session.exec(select(AIProviderKey.models).where(
            col(AIProviderKey.is_enabled)))).all()
    lists = [list(r or []) for r in rows]
    models = sorted({str(m) for models in lists for m in models})
    return ModelChoices(models, any(not m for m in lists), bool(lists))


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
