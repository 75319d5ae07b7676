"""Platform settings an admin changes in the panel, stored in the database.

Environment settings (core/settings.py) need a restart and a shell; these are the ones a
platform is run by day to day, so they live in `platform_settings` and each service that
applies one reads it where it acts: sign-up and invitations (who may get an account),
`create_workspace` (the limits a new workspace starts with), the header's "New workspace"
(how many one person may own). Reads are not cached: none of these is on a hot path, and
every process then sees a change at once.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend_services.core import audit
from backend_services.core.db import session_scope
from backend_services.core.errors import PermissionDenied, ValidationFailed
from backend_services.core.principal import Principal
from backend_services.models import PlatformSetting

SignupMode = Literal["open", "invite_only", "closed"]
SIGNUP_MODES: dict[str, str] = {
    "open": "Open: anyone can create an account and a workspace",
    "invite_only": "Invitation only: new people join through a workspace's invitation",
    "closed": "Closed: no new accounts (existing people can still accept invitations)",
}
MIB = 1024 * 1024


@dataclass(frozen=True)
class PlatformSettings:
    signup_mode: SignupMode = "open"
    # Knowledge storage a new workspace starts with (an admin can change one workspace's).
    new_workspace_storage_mb: int = 200
    # Workspaces one person may own: the header's "New workspace…" stops there.
    workspaces_per_person: int = 10


DEFAULTS = PlatformSettings()
_LIMITS: dict[str, tuple[int, int]] = {
    "new_workspace_storage_mb": (1, 1_000_000),
    "workspaces_per_person": (1, 1000),
}


async def read(session: AsyncSession) -> PlatformSettings:
    """The settings in force; a key never saved keeps its default, an unreadable stored
    value too (the panel shows what applies, and saving it writes a clean one)."""
    stored = {r.key: r.value for r in await session.exec(select(PlatformSetting))}
    values: dict[str, Any] = {}
    for f in fields(PlatformSettings):
        raw = stored.get(f.name)
        try:
            values[f.name] = _clean(f.name, raw) if raw is not None else getattr(DEFAULTS, f.name)
        except ValidationFailed:
            values[f.name] = getattr(DEFAULTS, f.name)
    return PlatformSettings(**values)


async def current() -> PlatformSettings:
    async with session_scope() as session:
        return await read(session)


async def for_admin(principal: Principal) -> PlatformSettings:
    principal.require_platform_admin()
    return await current()


def _clean(name: str, raw: Any) -> Any:
    if name == "signup_mode":
        value = str(raw).strip()
        if value not in SIGNUP_MODES:
            raise ValidationFailed("Choose how people sign up: open, invitation only or closed.")
        return value
    low, high = _LIMITS[name]
    try:
        number = int(str(raw).strip())
    except ValueError as exc:
        raise ValidationFailed(f"{name.replace('_', ' ').capitalize()}: enter a whole number.") \
            from exc
    if not low <= number <= high:
        raise ValidationFailed(
            f"{name.replace('_', ' ').capitalize()}: between {low} and {high}.")
    return number


async def update(principal: Principal, changes: dict[str, Any]) -> PlatformSettings:
    """Validate every field first, so a bad one saves none; each change is audited with
    its old and new value."""
    principal.require_platform_admin()
    known = {f.name for f in fields(PlatformSettings)}
    unknown = set(changes) - known
    if unknown:
        raise ValidationFailed(f"Unknown setting: {', '.join(sorted(unknown))}.")
    cleaned = {k: _clean(k, v) for k, v in changes.items()}
    async with session_scope() as session:
        before = await read(session)
        after = replace(before, **cleaned)
        diff = {k: {"from": getattr(before, k), "to": v}
                for k, v in asdict(after).items() if getattr(before, k) != v}
        for key in diff:
            stmt = insert(PlatformSetting).values(
                key=key, value=getattr(after, key), updated_by=principal.user_id,
                updated_at=datetime.now(UTC))
            await session.exec(stmt.on_conflict_do_update(  # type: ignore[call-overload]
                index_elements=[col(PlatformSetting.key)],
                set_={"value": stmt.excluded.value, "updated_by": stmt.excluded.updated_by,
                      "updated_at": stmt.excluded.updated_at}))
        if diff:
            await audit.record(session, "platform_settings_changed",
                               actor_user_id=principal.user_id, ip=principal.ip,
                               target=", ".join(sorted(diff)), details=diff)
    return after


def refuse_signup(settings: PlatformSettings) -> None:
    """Self sign-up is only for an open platform."""
    if settings.signup_mode == "invite_only":
        raise PermissionDenied("Sign-up is by invitation only: ask a workspace owner to "
                               "invite you.")
    if settings.signup_mode == "closed":
        raise PermissionDenied("This platform is not taking new accounts.")


def refuse_new_account(settings: PlatformSettings) -> None:
    """An invitation makes a new account unless the platform is closed."""
    if settings.signup_mode == "closed":
        raise PermissionDenied("This platform is not taking new accounts: ask its "
                               "administrator.")
