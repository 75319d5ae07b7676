"""One's own account: where one is signed in, a new e-mail address, deleting the account.

Sessions are listed by a short public handle (a prefix of the stored SHA-256, itself not
a secret): the session id stays in the HttpOnly cookie only. An address change takes
effect only when the new address's mail is opened, and the old address is told; an
account deletion keeps the user row, scrubbed, so audit entries and conversations keep
their references while nothing personal remains.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlmodel import col, select

from backend_services.core import audit, mailer
from backend_services.core.catalogue import LANGUAGES
from backend_services.core.db import session_scope
from backend_services.core.errors import Conflict, NotFound, ValidationFailed
from backend_services.core.principal import Principal
from backend_services.core.security import verify_password_async
from backend_services.core.settings import get_settings
from backend_services.identity.access_events import publish_access_changed
from backend_services.identity.auth import consume_token, issue_token, normalize_email
from backend_services.models import (
    AuthToken,
    Membership,
    NotificationSetting,
    Role,
    TelegramOperator,
    User,
    UserSession,
    Workspace,
)

PURPOSE_CHANGE_EMAIL = "change_email"
HANDLE_LENGTH = 16


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class SessionView:
    handle: str
    workspace_name: str
    started: datetime
    last_seen: datetime
    ip: str
    device: str
    current: bool


def describe_device(user_agent: str) -> str:
    """"Firefox on Windows" from a User-Agent, enough to recognise one's own devices."""
    ua = user_agent or ""
    browser = next((name for key, name in (("Edg/", "Edge"), ("OPR/", "Opera"),
                                           ("Firefox/", "Firefox"), ("Chrome/", "Chrome"),
                                           ("Safari/", "Safari")) if key in ua), "")
    system = next((name for key, name in (("Android", "Android"), ("iPhone", "iPhone"),
                                          ("iPad", "iPad"), ("Windows", "Windows"),
                                          ("Mac OS X", "macOS"), ("Linux", "Linux")) if key in ua),
                  "")
    if browser and system:
        return f"{browser} on {system}"
    return browser or system or (ua[:60] if ua else "Unknown device")


def _active(user_id: int) -> list[sa.ColumnElement[bool]]:
    now = _now()
    idle = timedelta(minutes=get_settings().session_idle_minutes)
    return [col(UserSession.user_id) == user_id, col(UserSession.revoked_at).is_(None),
            col(UserSession.expires_at) > now, col(UserSession.last_seen_at) > now - idle]


async def list_sessions(principal: Principal) -> list[SessionView]:
    """Where this person is signed in now, the newest activity first."""
    async with session_scope() as session:
        rows = (await session.exec(
            select(UserSession, Workspace.name)
            .join(Workspace, col(Workspace.id) == col(UserSession.workspace_id))
            .where(*_active(principal.user_id))
            .order_by(col(UserSession.last_seen_at).desc()))).all()
    return [SessionView(handle=row.id_hash[:HANDLE_LENGTH], workspace_name=name,
                        started=row.created_at, last_seen=row.last_seen_at, ip=row.ip,
                        device=describe_device(row.user_agent),
                        current=row.id_hash == principal.session_key)
            for row, name in rows]


async def sign_out(principal: Principal, handle: str | None) -> int:
    """End one of this person's sessions (by handle), or with None every one but this
    one. Returns how many ended. Another person's handle matches nothing."""
    if handle is not None and len(handle) != HANDLE_LENGTH:
        raise NotFound("That session has already ended.")
    async with session_scope() as session:
        where = _active(principal.user_id)
        if handle is None:
            where.append(col(UserSession.id_hash) != principal.session_key)
        else:
            where.append(col(UserSession.id_hash).startswith(handle, autoescape=True))
        ended = (await session.exec(  # type: ignore[call-overload]
            sa.update(UserSession).where(*where).values(revoked_at=_now())
            .returning(col(UserSession.id_hash)))).all()
        if handle is not None and not ended:
            raise NotFound("That session has already ended.")
        await audit.record_by(session, principal, "sessions_signed_out",
                              details={"count": len(ended), "everywhere": handle is None})
    await publish_access_changed(principal.user_id, reason="signed_out_elsewhere")
    return len(ended)


async def _check_password(user: User | None, password: str) -> User:
    if user is None or user.deleted_at is not None:
        raise NotFound("Account not found.")
    if not await verify_password_async(user.password_hash, password):
        raise ValidationFailed("The password is not right.")
    return user


async def request_email_change(principal: Principal, new_email: str, password: str) -> str:
    """Mail a confirmation link to the new address (and a notice to the old one); the
    address changes only when the link is opened. Returns the token for tests."""
    email = normalize_email(new_email)
    async with session_scope() as session:
        user = await _check_password(await session.get(User, principal.user_id), password)
        if email == user.email:
            raise ValidationFailed("That is already your address.")
        if (await session.exec(select(User.id).where(User.email == email))).first():
            raise Conflict("Another account uses that address.")
        hours = get_settings().email_token_hours
        token = await issue_token(session, principal.user_id, PURPOSE_CHANGE_EMAIL,
                                  timedelta(hours=hours), payload=email)
        await audit.record_by(session, principal, "email_change_requested", email)
        old = user.email
        # Sent inside the transaction: a link that could not be mailed is not left valid.
        link = f"{get_settings().base_url}/confirm-email-change?token={token}"
        await mailer.send(
            email, "Confirm your new ReplyX e-mail address",
            f"Someone signed in as {old} asked to use this address for their ReplyX "
            f"account.\n\nConfirm it here:\n{link}\n\nThe link works once and expires in "
            f"{hours} hours. If it was not you, ignore this message.\n")
    await mailer.send(
        old, "Your ReplyX e-mail address is being changed",
        f"Someone signed in to your ReplyX account asked to change its address to {email}.\n"
        "It changes only when that address confirms. If it was not you, change your "
        "password now: that signs out every other session.\n")
    return token


async def confirm_email_change(token: str) -> str:
    """Apply a confirmed address change; returns the new address."""
    async with session_scope() as session:
        row = await consume_token(session, token, PURPOSE_CHANGE_EMAIL)
        user = await session.get(User, row.user_id, with_for_update=True)
        if user is None or user.deleted_at is not None or user.is_blocked:
            raise ValidationFailed("This link is invalid or has already been used.")
        if (await session.exec(select(User.id).where(User.email == row.payload,
                                                     User.id != user.id))).first():
            raise Conflict("Another account took that address meanwhile.")
        old, user.email = user.email, row.payload
        user.email_confirmed_at = _now()
        session.add(user)
        await audit.record(session, "email_changed", actor_user_id=user.id, target=row.payload,
                           details={"from": old})
        return row.payload


async def sole_owned_workspaces(user_id: int) -> list[str]:
    """Workspaces that would be left without an owner: the account cannot go before them."""
    async with session_scope() as session:
        owners = (
            select(sa.func.count()).select_from(Membership)
            .where(col(Membership.workspace_id) == col(Workspace.id),
                   col(Membership.role) == Role.OWNER.value)
            .correlate(Workspace).scalar_subquery())
        rows = (await session.exec(
            select(Workspace.name)
            .join(Membership, col(Membership.workspace_id) == col(Workspace.id))
            .where(Membership.user_id == user_id, Membership.role == Role.OWNER.value,
                   col(Workspace.deletion_requested_at).is_(None), owners <= 1)
            .order_by(Workspace.name))).all()
    return [str(r) for r in rows]


async def delete_account(principal: Principal, password: str) -> None:
    """Sign out everywhere, leave every workspace and scrub the account. Refused while it
    is the only owner of a workspace (hand it over or delete it first)."""
    async with session_scope() as session:
        await _check_password(await session.get(User, principal.user_id), password)
    blocking = await sole_owned_workspaces(principal.user_id)
    if blocking:
        raise ValidationFailed("You are the only owner of " + ", ".join(blocking) +
                               ": make someone else an owner or delete it first.")
    async with session_scope() as session:
        user = await session.get(User, principal.user_id, with_for_update=True)
        assert user is not None and user.id is not None
        for model in (Membership, NotificationSetting, TelegramOperator, AuthToken):
            table: sa.Table = model.__table__  # type: ignore[attr-defined,union-attr]
            await session.exec(sa.delete(table).where(  # type: ignore[call-overload]
                table.c.user_id == user.id))
        await session.exec(sa.update(UserSession)  # type: ignore[call-overload]
                           .where(col(UserSession.user_id) == user.id,
                                  col(UserSession.revoked_at).is_(None))
                           .values(revoked_at=_now()))
        user.email = f"deleted-{user.id}@deleted.invalid"
        user.name = ""
        user.password_hash = "!"  # matches no password
        user.is_blocked, user.is_platform_admin = True, False
        user.deleted_at = _now()
        session.add(user)
        await audit.record(session, "account_deleted", actor_user_id=user.id,
                           ip=principal.ip)
    await publish_access_changed(principal.user_id, reason="account_deleted")


async def set_language(principal: Principal, language: str) -> None:
    """The person's language, for their pages and their e-mails alike (one choice)."""
    if language not in LANGUAGES:
        raise ValidationFailed("Choose English or Russian.")
    async with session_scope() as session:
        user = await session.get(User, principal.user_id)
        if user is not None and user.language != language:
            user.language = language
            session.add(user)
