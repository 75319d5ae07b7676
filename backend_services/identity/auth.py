"""Accounts and sessions: sign-up, e-mail confirmation, login, logout, password reset.

Sessions are server-side rows keyed by the SHA-256 of a 128-bit random id that only the
browser's HttpOnly cookie holds. Every request re-validates the row, so logout, a block
or a role change takes effect on the next click, not when some token expires.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend_services.core import audit, bans, catalogue, mailer, ratelimit
from backend_services.core.db import session_scope
from backend_services.core.errors import (
    Conflict,
    NotAuthenticated,
    NotFound,
    RateLimited,
    ValidationFailed,
    WorkspaceLeft,
)
from backend_services.core.principal import Principal
from backend_services.core.redis_client import get_redis
from backend_services.core.security import (
    MIN_PASSWORD_LENGTH,
    hash_password_async,
    new_token,
    token_hash,
    verify_password_async,
)
from backend_services.core.settings import get_settings
from backend_services.identity import platform_settings
from backend_services.identity.access_events import publish_access_changed
from backend_services.identity.my_workspaces import (
    blocked_message,
    last_used_membership,
    move_to_any_other,
)
from backend_services.identity.workspaces import create_workspace
from backend_services.models import (
    AuthToken,
    Membership,
    Role,
    User,
    UserSession,
    Workspace,
)

PURPOSE_CONFIRM = "confirm_email"
PURPOSE_RESET = "reset_password"
TOUCH_EVERY = timedelta(seconds=60)
LOGIN_TICKET_TTL = 60


def _now() -> datetime:
    return datetime.now(UTC)


def normalize_email(raw: str) -> str:
    try:
        info = validate_email(raw.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValidationFailed("Enter a valid e-mail address.") from exc
    return info.normalized.lower()


def check_password_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationFailed(f"Use at least {MIN_PASSWORD_LENGTH} characters for the password.")
    if len(password) > 256:
        raise ValidationFailed("That password is too long (256 characters at most).")
    if password.isdigit() or (password.lower() == password and password.isalpha()):
        raise ValidationFailed("Mix letters with digits or symbols in the password.")


async def issue_token(session: AsyncSession, user_id: int, purpose: str, ttl: timedelta,
                      payload: str = "") -> str:
    """A one-use e-mail token (only its hash is stored). A new token of the same purpose
    retires the older ones: only the newest link works."""
    await session.exec(  # type: ignore[call-overload]
        update(AuthToken)
        .where(col(AuthToken.user_id) == user_id, col(AuthToken.purpose) == purpose)
        .where(col(AuthToken.used_at).is_(None))
        .values(used_at=_now())
    )
    token = new_token()
    session.add(
        AuthToken(
            user_id=user_id, purpose=purpose, token_hash=token_hash(token),
            expires_at=_now() + ttl, payload=payload,
        )
    )
    return token


async def _usable_token(session: AsyncSession, token: str, purpose: str,
                        *, lock: bool) -> AuthToken:
    stmt = select(AuthToken).where(AuthToken.token_hash == token_hash(token),
                                   AuthToken.purpose == purpose)
    row = (await session.exec(stmt.with_for_update() if lock else stmt)).first()
    if row is None or row.used_at is not None:
        raise ValidationFailed("This link is invalid or has already been used.")
    if row.expires_at < _now():
        raise ValidationFailed("This link has expired. Ask for a new one.")
    return row


async def consume_token(session: AsyncSession, token: str, purpose: str) -> AuthToken:
    row = await _usable_token(session, token, purpose, lock=True)
    row.used_at = _now()
    session.add(row)
    return row


async def check_reset_link(token: str) -> None:
    """Raise, without using it up, when a reset link can no longer work: the page says so
    before anyone types a new password twice."""
    async with session_scope() as session:
        await _usable_token(session, token, PURPOSE_RESET, lock=False)


async def _send_confirmation(email: str, token: str) -> None:
    link = f"{get_settings().base_url}/confirm?token={token}"
    await mailer.send(
        email,
        "Confirm your ReplyX e-mail address",
        "Welcome to ReplyX!\n\n"
        f"Confirm your e-mail address by opening this link:\n{link}\n\n"
        f"The link works once and expires in {get_settings().email_token_hours} hours.\n"
        "If you did not sign up, ignore this message.\n",
    )


@dataclass(frozen=True)
class SignupResult:
    user_id: int
    workspace_id: int


async def signup(
    *, email: str, password: str, name: str, workspace_name: str, ip: str = "",
    language: str = "en",
) -> SignupResult:
    """Create the user, their workspace (they own it) and a zero balance; mail a confirm link.
    `language` is the one the sign-up page was shown in: their pages and e-mails use it."""
    email = normalize_email(email)
    check_password_strength(password)
    name = name.strip()[:120]
    workspace_name = workspace_name.strip()[:120] or f"{name or email.split('@')[0]}'s workspace"
    await ratelimit.hit_or_raise("signup-ip", ip or "unknown", 20, 3600, "sign-ups from here")
    async with session_scope() as session:
        platform_settings.refuse_signup(await platform_settings.read(session))
        existing = (await session.exec(select(User).where(User.email == email))).first()
        if existing is not None:
            raise Conflict("An account with this e-mail already exists. Sign in instead.")
        user = User(email=email, name=name, password_hash=await hash_password_async(password),
                    language=catalogue.language_or_default(language))
        session.add(user)
        await session.flush()
        assert user.id is not None
        workspace_id = await create_workspace(
            session, name=workspace_name, owner_user_id=user.id
        )
        token = await issue_token(
            session, user.id, PURPOSE_CONFIRM, timedelta(hours=get_settings().email_token_hours)
        )
        await audit.record(
            session, "signup", workspace_id=workspace_id, actor_user_id=user.id, target=email, ip=ip
        )
        result = SignupResult(user_id=user.id, workspace_id=workspace_id)
        # Inside the transaction: when the mail cannot go out, no half-made account is left
        # behind that would block signing up again with the same address.
        await _send_confirmation(email, token)
    return result


async def confirm_email(token: str) -> str:
    async with session_scope() as session:
        row = await consume_token(session, token, PURPOSE_CONFIRM)
        user = await session.get(User, row.user_id)
        assert user is not None
        user.email_confirmed_at = user.email_confirmed_at or _now()
        session.add(user)
        await audit.record(session, "email_confirmed", actor_user_id=user.id, target=user.email)
        return user.email


async def _mail_allowed(email: str, ip: str, account_bucket: str, what: str) -> str:
    """The normalised address, once this address and this IP may be sent another e-mail
    (RateLimited otherwise): a mail form must not become a way to flood an inbox."""
    email = normalize_email(email)
    await ratelimit.hit_or_raise("mail-ip", ip or "unknown", 10, 3600, "e-mails requested")
    await ratelimit.hit_or_raise(account_bucket, email, 3, 3600, what)
    return email


async def resend_confirmation(email: str, ip: str = "") -> None:
    """Same answer whether or not the account exists, so it reveals nothing."""
    email = await _mail_allowed(email, ip, "mail-acct", "e-mails for this address")
    async with session_scope() as session:
        user = (await session.exec(select(User).where(User.email == email))).first()
        if user is None or user.email_confirmed_at is not None:
            return
        assert user.id is not None
        token = await issue_token(
            session, user.id, PURPOSE_CONFIRM, timedelta(hours=get_settings().email_token_hours)
        )
    await _send_confirmation(email, token)


@dataclass(frozen=True)
class LoginResult:
    session_id: str
    principal: Principal


async def _create_session(
    session: AsyncSession, user: User, membership: Membership, ip: str, user_agent: str
) -> str:
    assert user.id is not None
    settings = get_settings()
    sid = new_token()
    now = _now()
    session.add(
        UserSession(
            id_hash=token_hash(sid),
            user_id=user.id,
            workspace_id=membership.workspace_id,
            last_seen_at=now,
            expires_at=now + timedelta(hours=settings.session_max_hours),
            ip=ip[:64],
            user_agent=user_agent[:300],
        )
    )
    return sid


async def login(*, email: str, password: str, ip: str = "", user_agent: str = "") -> LoginResult:
    """Sign in. Each attempt takes its lockout slot before the password is verified, so
    concurrent guesses cannot outrun the limits; a wrong password or a refused attempt
    also counts towards a temporary ban of the address (backend_services.core.bans)."""
    try:
        email = normalize_email(email)
    except ValidationFailed as exc:
        raise NotAuthenticated("Wrong e-mail or password.") from exc
    await bans.refuse_if_banned(ip)  # a socket opened before the ban is still open
    try:
        await ratelimit.take_login_slot(email, ip)
    except RateLimited:
        await bans.record_failure(bans.LOGIN, ip)
        raise
    try:
        async with session_scope() as session:
            user = (await session.exec(select(User).where(User.email == email))).first()
            ok = await verify_password_async(user.password_hash if user else None, password)
            if not ok or user is None:
                await audit.record(
                    session,
                    "login_failure",
                    actor_user_id=user.id if user else None,
                    target=email,
                    ip=ip,
                )
    except Exception:
        await ratelimit.attempt_not_judged(email, ip)
        raise
    if not ok or user is None:
        await bans.record_failure(bans.LOGIN, ip)
        raise NotAuthenticated("Wrong e-mail or password.")
    await ratelimit.password_accepted(email, ip)
    assert user is not None and user.id is not None
    if user.is_blocked:
        raise NotAuthenticated("This account is blocked. Contact the platform administrator.")
    if user.email_confirmed_at is None:
        raise NotAuthenticated(
            "Confirm your e-mail address first: open the link we sent you (or ask for a new one)."
        )
    async with session_scope() as session:
        membership = await last_used_membership(session, user.id)
        if membership is None:
            blocked = (await session.exec(
                select(Workspace.blocked_reason)
                .join(Membership, col(Membership.workspace_id) == col(Workspace.id))
                .where(Membership.user_id == user.id))).first()
            if blocked is not None:  # a membership, but every one of them blocked
                raise NotAuthenticated(blocked_message(blocked))
            raise NotAuthenticated("This account does not belong to any workspace any more.")
        sid = await _create_session(session, user, membership, ip, user_agent)
        db_user = await session.get(User, user.id)
        assert db_user is not None
        db_user.last_login_at = _now()
        session.add(db_user)
        await audit.record(session, "login_success", workspace_id=membership.workspace_id,
                           actor_user_id=user.id, target=email, ip=ip)
    principal = await authenticate(sid)
    return LoginResult(session_id=sid, principal=principal)


async def authenticate(session_id: str | None, *, ip: str = "") -> Principal:
    """The principal behind a session cookie, or NotAuthenticated. Runs on every request."""
    if not session_id or len(session_id) > 128:
        raise NotAuthenticated("Please sign in.")
    settings = get_settings()
    now = _now()
    async with session_scope() as session:
        row = await session.get(UserSession, token_hash(session_id))
        if row is None or row.revoked_at is not None:
            raise NotAuthenticated("Your session has ended. Please sign in again.")
        if row.expires_at <= now or row.last_seen_at + timedelta(
            minutes=settings.session_idle_minutes
        ) <= now:
            row.revoked_at = now
            session.add(row)
            raise_after = True
        else:
            raise_after = False
        if raise_after:
            await session.commit()
            raise NotAuthenticated("Your session has expired. Please sign in again.")
        user = await session.get(User, row.user_id)
        membership = (
            await session.exec(
                select(Membership).where(
                    Membership.user_id == row.user_id, Membership.workspace_id == row.workspace_id
                )
            )
        ).first()
        workspace = await session.get(Workspace, row.workspace_id)
        blocked = workspace is not None and workspace.blocked_at is not None
        left = membership is None or workspace is None or blocked
        if (user is not None and not user.is_blocked and left
                and await move_to_any_other(session, row.id_hash, row.user_id, row.workspace_id)):
            await session.commit()
            raise WorkspaceLeft(
                (blocked_message(workspace.blocked_reason) + " " if workspace and blocked else
                 "You no longer belong to that workspace: ") + "You are now in another of yours.")
        if user is None or user.is_blocked or left:
            row.revoked_at = now
            session.add(row)
            await session.commit()
            if workspace is not None and blocked and user is not None and not user.is_blocked:
                raise NotAuthenticated(blocked_message(workspace.blocked_reason))
            raise NotAuthenticated("Your access has been revoked. Please sign in again.")
        assert membership is not None and workspace is not None
        if now - row.last_seen_at > TOUCH_EVERY:
            row.last_seen_at = now
            session.add(row)
        assert user.id is not None
        return Principal(
            user_id=user.id,
            workspace_id=row.workspace_id,
            role=Role(membership.role),
            is_platform_admin=user.is_platform_admin,
            email=user.email,
            name=user.name,
            workspace_name=workspace.name,
            ip=ip,
            session_key=row.id_hash,
            language=user.language or "en",
        )


async def logout(session_id: str | None, ip: str = "") -> None:
    if not session_id:
        return
    async with session_scope() as session:
        row = await session.get(UserSession, token_hash(session_id))
        if row is None or row.revoked_at is not None:
            return
        row.revoked_at = _now()
        session.add(row)
        await audit.record(
            session, "logout", workspace_id=row.workspace_id, actor_user_id=row.user_id, ip=ip
        )
        user_id, workspace_id = row.user_id, row.workspace_id
    # Other tabs of this browser share the session: their live views end now too.
    await publish_access_changed(user_id, workspace_id=workspace_id, reason="logout")


async def revoke_user_sessions(session: AsyncSession, user_id: int) -> None:
    await session.exec(  # type: ignore[call-overload]
        update(UserSession)
        .where(col(UserSession.user_id) == user_id, col(UserSession.revoked_at).is_(None))
        .values(revoked_at=_now())
    )


async def request_password_reset(email: str, ip: str = "") -> None:
    """Same answer whether or not the account exists, so it reveals nothing."""
    email = await _mail_allowed(email, ip, "reset-acct", "reset e-mails for this address")
    async with session_scope() as session:
        user = (await session.exec(select(User).where(User.email == email))).first()
        if user is None or user.is_blocked:
            return
        assert user.id is not None
        token = await issue_token(
            session, user.id, PURPOSE_RESET, timedelta(minutes=get_settings().reset_token_minutes)
        )
        await audit.record(session, "password_reset_requested", actor_user_id=user.id, ip=ip)
    link = f"{get_settings().base_url}/reset?token={token}"
    await mailer.send(
        email,
        "Reset your ReplyX password",
        "Someone (hopefully you) asked to reset your ReplyX password.\n\n"
        f"Choose a new password here:\n{link}\n\n"
        f"The link works once and expires in {get_settings().reset_token_minutes} minutes.\n"
        "If it was not you, ignore this message: your password stays as it is.\n",
    )


async def reset_password(token: str, new_password: str, ip: str = "") -> str:
    """Sets the password, confirms the address (the mail proved it) and ends every session."""
    check_password_strength(new_password)
    async with session_scope() as session:
        row = await consume_token(session, token, PURPOSE_RESET)
        user = await session.get(User, row.user_id)
        assert user is not None and user.id is not None
        user.password_hash = await hash_password_async(new_password)
        user.email_confirmed_at = user.email_confirmed_at or _now()
        session.add(user)
        await revoke_user_sessions(session, user.id)
        await audit.record(session, "password_reset", actor_user_id=user.id, ip=ip)
        email, user_id = user.email, user.id
    await publish_access_changed(user_id, reason="password_reset")
    await ratelimit.clear_login_failures(email)
    return email


async def change_password(principal: Principal, current: str, new: str) -> None:
    check_password_strength(new)
    async with session_scope() as session:
        user = await session.get(User, principal.user_id)
        if user is None:
            raise NotFound("Account not found.")
        if not await verify_password_async(user.password_hash, current):
            raise ValidationFailed("The current password is not right.")
        user.password_hash = await hash_password_async(new)
        session.add(user)
        # Everyone else who knew the old password is signed out; this session stays.
        await session.exec(  # type: ignore[call-overload]
            update(UserSession)
            .where(col(UserSession.user_id) == principal.user_id)
            .where(col(UserSession.revoked_at).is_(None))
            .where(col(UserSession.id_hash) != principal.session_key)
            .values(revoked_at=_now())
        )
        await audit.record(
            session,
            "password_changed",
            workspace_id=principal.workspace_id,
            actor_user_id=principal.user_id,
            ip=principal.ip,
        )
    await publish_access_changed(principal.user_id, reason="password_changed")


async def update_profile(principal: Principal, name: str) -> None:
    name = name.strip()
    if not name:
        raise ValidationFailed("Enter your name.")
    async with session_scope() as session:
        user = await session.get(User, principal.user_id)
        if user is None:
            raise NotFound("Account not found.")
        user.name = name[:120]
        session.add(user)


async def issue_login_ticket(session_id: str, browser: str) -> str:
    """A one-use, 60-second ticket the browser trades for the HttpOnly session cookie.

    The login form runs over the websocket, which cannot set cookies; the ticket crosses
    one redirect to /api/auth/session, which sets the cookie and forgets the ticket. It is
    bound to `browser`, the signing-in browser's own random cookie (from the websocket
    handshake): redeemed with any other (a link handed to someone else), it is void.
    """
    if not browser:
        raise NotAuthenticated("Your browser did not keep this site's sign-in cookie. "
                               "Allow cookies for this site and reload the page.")
    ticket = new_token()
    await get_redis().set(f"replyx:ticket:{token_hash(ticket)}",
                          f"{token_hash(browser)}|{session_id}", ex=LOGIN_TICKET_TTL)
    return ticket


async def redeem_login_ticket(ticket: str, browser: str) -> str | None:
    """The session id of a ticket issued to this browser; None otherwise. A ticket is
    gone after its first redemption, whoever tried it."""
    if not ticket or len(ticket) > 64:
        return None
    value = await get_redis().getdel(f"replyx:ticket:{token_hash(ticket)}")
    if not value:
        return None
    bound, _, session_id = str(value).partition("|")
    if not browser or not session_id or not secrets.compare_digest(bound, token_hash(browser)):
        return None
    return session_id


async def create_user(
    *,
    email: str,
    password: str,
    name: str,
    workspace_id: int | None,
    role: Role = Role.OWNER,
    platform_admin: bool = False,
    confirmed: bool = True,
) -> int:
    """For the CLI and the demo seed: a ready account, no mail round trip."""
    email = normalize_email(email)
    check_password_strength(password)
    async with session_scope() as session:
        user = (await session.exec(select(User).where(User.email == email))).first()
        password_hash = await hash_password_async(password)
        if user is None:
            user = User(email=email, name=name, password_hash=password_hash)
        user.password_hash = password_hash
        user.is_platform_admin = user.is_platform_admin or platform_admin
        user.email_confirmed_at = user.email_confirmed_at or (_now() if confirmed else None)
        session.add(user)
        await session.flush()
        assert user.id is not None
        if workspace_id is not None:
            exists = (
                await session.exec(
                    select(Membership).where(
                        Membership.user_id == user.id, Membership.workspace_id == workspace_id
                    )
                )
            ).first()
            if exists is None:
                session.add(Membership(workspace_id=workspace_id, user_id=user.id, role=role.value))
        return user.id


def safe_next(raw: str) -> str:
    """Where to go after signing in: only same-site paths, never bounce a fresh session to
    someone else's site."""
    if raw.startswith("/") and not raw.startswith("//") and "\\" not in raw:
        return raw
    return "/dashboard"
