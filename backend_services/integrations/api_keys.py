"""Workspace API keys: how a tenant's own systems call the public REST API (`/api/v1`).

A key is shown once, when made: the table keeps only the SHA-256 of the whole token, and
its public prefix to find the row, so a database leak opens no workspace. A key acts for
its workspace with the admin role at most — never the owner's (no billing, deletion or
ownership through the API) — and only within its scopes. It stops working when revoked,
when the person who made it is no longer an admin of the workspace (or is blocked), and
while the workspace is blocked.
"""

from __future__ import annotations

import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from sqlmodel import col, select

from backend_services.core import audit, ratelimit
from backend_services.core.db import session_scope
from backend_services.core.errors import (
    NotAuthenticated,
    PermissionDenied,
    ValidationFailed,
)
from backend_services.core.principal import Principal
from backend_services.core.scoped import in_workspace
from backend_services.core.security import token_hash
from backend_services.core.settings import get_settings
from backend_services.models import ROLE_RANK, ApiKey, Membership, Role, User, Workspace

Scope = Literal["read", "write", "knowledge"]
SCOPES: dict[str, str] = {
    "read": "Read assistants, knowledge status, dialogs and contacts",
    "write": "Change assistants, send operator messages, close dialogs",
    "knowledge": "Add and delete knowledge (files, URLs, Q&A pairs)",
}
TOKEN_RE = re.compile(r"^rxk_([a-z0-9]{12})_([A-Za-z0-9_-]{32,64})$")
NAME_MAX = 80
MAX_KEYS = 50
TOUCH_EVERY = timedelta(minutes=1)


@dataclass(frozen=True)
class ApiKeyView:
    id: int
    name: str
    prefix: str  # shown in lists so a key can be told apart; not enough to use it
    scopes: list[str]
    created_by: str
    created_at: datetime
    last_used_at: datetime | None
    last_used_ip: str
    revoked: bool


@dataclass(frozen=True)
class CreatedKey:
    view: ApiKeyView
    token: str  # the only time it exists outside the caller's hands


def _clean_scopes(scopes: list[str]) -> list[str]:
    chosen = [s for s in SCOPES if s in {x.strip() for x in scopes}]
    unknown = {x.strip() for x in scopes} - set(SCOPES) - {""}
    if unknown:
        raise ValidationFailed(f"Unknown scope: {', '.join(sorted(unknown))}.")
    if not chosen:
        raise ValidationFailed("Give the key at least one scope.")
    return chosen


def _view(row: ApiKey, creator: str) -> ApiKeyView:
    assert row.id is not None
    return ApiKeyView(id=row.id, name=row.name, prefix=f"rxk_{row.prefix}", scopes=row.scopes,
                      created_by=creator, created_at=row.created_at,
                      last_used_at=row.last_used_at, last_used_ip=row.last_used_ip,
                      revoked=row.revoked_at is not None)


async def list_keys(principal: Principal) -> list[ApiKeyView]:
    principal.require(Role.ADMIN)
    async with session_scope() as session:
        rows = (await session.exec(
            select(ApiKey, User.email).join(User, col(User.id) == col(ApiKey.created_by),
                                            isouter=True)
            .where(ApiKey.workspace_id == principal.workspace_id)
            .order_by(col(ApiKey.revoked_at).is_not(None), col(ApiKey.id).desc()))).all()
    return [_view(row, email or "a former member") for row, email in rows]


async def create_key(principal: Principal, name: str, scopes: list[str]) -> CreatedKey:
    principal.require(Role.ADMIN)
    name = " ".join(name.split())
    if not name:
        raise ValidationFailed("Name the key after what uses it, e.g. “CRM sync”.")
    if len(name) > NAME_MAX:
        raise ValidationFailed(f"A key name has at most {NAME_MAX} characters.")
    chosen = _clean_scopes(scopes)
    prefix = "".join(secrets.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(12))
    token = f"rxk_{prefix}_{secrets.token_urlsafe(32)}"
    async with session_scope() as session:
        live = (await session.exec(select(ApiKey.id).where(
            ApiKey.workspace_id == principal.workspace_id,
            col(ApiKey.revoked_at).is_(None)))).all()
        if len(live) >= MAX_KEYS:
            raise ValidationFailed(f"A workspace has at most {MAX_KEYS} active keys: revoke "
                                   "one you no longer use.")
        row = ApiKey(workspace_id=principal.workspace_id, name=name, prefix=prefix,
                     secret_hash=token_hash(token), scopes=chosen,
                     created_by=principal.user_id)
        session.add(row)
        await session.flush()
        await audit.record_by(session, principal, "api_key_created", f"api_key:{row.id} {name}",
                              details={"scopes": chosen})
        view = _view(row, principal.email)
    return CreatedKey(view=view, token=token)


async def revoke_key(principal: Principal, key_id: int) -> None:
    principal.require(Role.ADMIN)
    async with session_scope() as session:
        row = await in_workspace(session, ApiKey, key_id, principal, missing="API key not found.",
                                 lock=True)
        if row.revoked_at is not None:
            return
        row.revoked_at = datetime.now(UTC)
        session.add(row)
        await audit.record_by(session, principal, "api_key_revoked",
                              f"api_key:{row.id} {row.name}")


_REFUSED = "This API key is not valid (revoked, mistyped, or its workspace is closed)."


async def authenticate(token: str, scope: Scope, *, ip: str = "") -> Principal:
    """The principal a request with this bearer token acts as, checked for `scope`.
    Every refusal of the token itself reads the same, so it tells a guesser nothing."""
    match = TOKEN_RE.match(token or "")
    if match is None:
        raise NotAuthenticated(_REFUSED)
    async with session_scope() as session:
        found = (await session.exec(
            select(ApiKey, User, Membership, Workspace)
            .join(User, col(User.id) == col(ApiKey.created_by))
            .join(Membership, (col(Membership.user_id) == col(User.id))
                  & (col(Membership.workspace_id) == col(ApiKey.workspace_id)))
            .join(Workspace, col(Workspace.id) == col(ApiKey.workspace_id))
            .where(ApiKey.prefix == match.group(1)))).first()
        if found is None or not hmac.compare_digest(found[0].secret_hash, token_hash(token)):
            raise NotAuthenticated(_REFUSED)
        key, user, membership, workspace = found
        if (key.revoked_at is not None or user.is_blocked or user.deleted_at is not None
                or workspace.blocked_at is not None
                or ROLE_RANK[Role(membership.role)] < ROLE_RANK[Role.ADMIN]):
            raise NotAuthenticated(_REFUSED)
        now = datetime.now(UTC)
        if key.last_used_at is None or now - key.last_used_at > TOUCH_EVERY \
                or key.last_used_ip != ip[:64]:
            key.last_used_at, key.last_used_ip = now, ip[:64]
            session.add(key)
        assert key.id is not None and user.id is not None
        principal = Principal(user_id=user.id, workspace_id=key.workspace_id, role=Role.ADMIN,
                              email=user.email, name=f"API key “{key.name}”",
                              workspace_name=workspace.name, ip=ip,
                              session_key=f"api_key:{key.id}")
        scopes, prefix = list(key.scopes), key.prefix
    await ratelimit.hit_or_raise("api-key", prefix, get_settings().api_requests_per_minute, 60,
                                 "requests with this API key")
    if scope not in scopes:
        raise PermissionDenied(f"This API key does not have the “{scope}” scope.")
    return principal
