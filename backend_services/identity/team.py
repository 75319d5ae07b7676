"""Workspace members and invitations: who may work in a workspace, and with which role."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend_services.core import audit, mailer
from backend_services.core.db import session_scope
from backend_services.core.errors import Conflict, PermissionDenied, ValidationFailed
from backend_services.core.principal import Principal
from backend_services.core.scoped import in_workspace
from backend_services.core.security import hash_password_async, new_token, token_hash
from backend_services.core.settings import get_settings
from backend_services.identity import platform_settings
from backend_services.identity.access_events import publish_access_changed
from backend_services.identity.auth import check_password_strength, normalize_email
from backend_services.models import ROLE_RANK, Invitation, Membership, Role, User, Workspace

INVITE_TTL = timedelta(days=7)


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class MemberView:
    membership_id: int
    user_id: int
    email: str
    name: str
    role: str
    joined: str


@dataclass(frozen=True)
class InvitationView:
    id: int
    email: str
    role: str
    expires: str


async def _member_rows(workspace_id: int) -> list[tuple[Membership, User]]:
    async with session_scope() as session:
        rows = await session.exec(
            select(Membership, User)
            .join(User, col(User.id) == col(Membership.user_id))
            .where(Membership.workspace_id == workspace_id)
            .order_by(col(Membership.id))
        )
        return list(rows)


async def list_members(principal: Principal) -> list[MemberView]:
    principal.require(Role.ADMIN)
    return [MemberView(membership_id=m.id or 0, user_id=u.id or 0, email=u.email, name=u.name,
                       role=m.role, joined=m.created_at.strftime("%Y-%m-%d"))
            for m, u in await _member_rows(principal.workspace_id)]


@dataclass(frozen=True)
class Teammate:
    user_id: int
    name: str


async def list_teammates(principal: Principal) -> list[Teammate]:
    """Who an operator can hand a conversation to: names only, no e-mails or roles."""
    principal.require(Role.OPERATOR)
    users = sorted((u for _, u in await _member_rows(principal.workspace_id)),
                   key=lambda u: (u.name.casefold(), u.id or 0))
    return [Teammate(u.id or 0, u.name or u.email.split("@")[0]) for u in users]


async def list_invitations(principal: Principal) -> list[InvitationView]:
    principal.require(Role.ADMIN)
    async with session_scope() as session:
        rows = await session.exec(
            select(Invitation)
            .where(
                Invitation.workspace_id == principal.workspace_id,
                col(Invitation.accepted_at).is_(None),
                col(Invitation.revoked_at).is_(None),
                col(Invitation.expires_at) > _now(),
            )
            .order_by(col(Invitation.id).desc())
        )
        return [
            InvitationView(
                id=i.id or 0, email=i.email, role=i.role, expires=i.expires_at.strftime("%Y-%m-%d")
            )
            for i in rows
        ]


def _check_can_grant(principal: Principal, role: Role) -> None:
    principal.require(Role.ADMIN)
    if role == Role.OWNER and principal.role != Role.OWNER:
        raise PermissionDenied("Only an owner can make someone an owner.")
    if ROLE_RANK[role] > ROLE_RANK[principal.role]:
        raise PermissionDenied("You cannot grant a role higher than your own.")


async def invite(principal: Principal, email: str, role: Role) -> str:
    """Mail an invitation link; returns the token only so tests and the CLI can follow it."""
    _check_can_grant(principal, role)
    email = normalize_email(email)
    async with session_scope() as session:
        already = (
            await session.exec(
                select(Membership)
                .join(User, col(User.id) == col(Membership.user_id))
                .where(Membership.workspace_id == principal.workspace_id, User.email == email)
            )
        ).first()
        if already is not None:
            raise Conflict(f"{email} is already a member of this workspace.")
        pending = await session.exec(
            select(Invitation).where(
                Invitation.workspace_id == principal.workspace_id,
                Invitation.email == email,
                col(Invitation.accepted_at).is_(None),
                col(Invitation.revoked_at).is_(None),
            )
        )
        for old in pending:
            old.revoked_at = _now()
            session.add(old)
        token = new_token()
        session.add(
            Invitation(
                workspace_id=principal.workspace_id,
                email=email,
                role=role.value,
                token_hash=token_hash(token),
                invited_by=principal.user_id,
                expires_at=_now() + INVITE_TTL,
            )
        )
        await audit.record_by(
            session, principal, "member_invited", email, details={"role": role.value}
        )
        # Mailed inside the transaction: if the mail cannot be sent, no invitation is left
        # pending that nobody received.
        link = f"{get_settings().base_url}/invite?token={token}"
        await mailer.send(
            email,
            f"You are invited to {principal.workspace_name} on ReplyX",
            f"{principal.name or principal.email} invited you to join the workspace "
            f"“{principal.workspace_name}” on ReplyX as {role.value}.\n\n"
            f"Accept the invitation here:\n{link}\n\n"
            "The link works once and expires in 7 days.\n",
        )
    return token


async def revoke_invitation(principal: Principal, invitation_id: int) -> None:
    principal.require(Role.ADMIN)
    async with session_scope() as session:
        inv = await in_workspace(session, Invitation, invitation_id, principal,
                                 missing="Invitation not found.")
        inv.revoked_at = _now()
        session.add(inv)


@dataclass(frozen=True)
class InvitationInfo:
    email: str
    workspace_name: str
    role: str
    has_account: bool


async def _open_invitation(session: AsyncSession, token: str) -> Invitation:
    inv = (
        await session.exec(
            select(Invitation).where(Invitation.token_hash == token_hash(token)).with_for_update()
        )
    ).first()
    if inv is None or inv.accepted_at is not None or inv.revoked_at is not None:
        raise ValidationFailed("This invitation is invalid or has already been used.")
    if inv.expires_at < _now():
        raise ValidationFailed("This invitation has expired. Ask for a new one.")
    return inv


async def describe_invitation(token: str) -> InvitationInfo:
    async with session_scope() as session:
        inv = await _open_invitation(session, token)
        ws = await session.get(Workspace, inv.workspace_id)
        user = (await session.exec(select(User).where(User.email == inv.email))).first()
        return InvitationInfo(
            email=inv.email,
            workspace_name=ws.name if ws else "",
            role=inv.role,
            has_account=user is not None,
        )


@dataclass(frozen=True)
class Accepted:
    email: str
    workspace_id: int


async def accept_invitation(token: str, *, name: str = "", password: str = "") -> Accepted:
    """Join the workspace; a newcomer sets a password here (the mail proved the address).
    Someone who already has an account joins with one click: the link, mailed to their
    address, is the proof, as it is for a newcomer."""
    async with session_scope() as session:
        inv = await _open_invitation(session, token)
        user = (await session.exec(select(User).where(User.email == inv.email))).first()
        if user is None:
            platform_settings.refuse_new_account(await platform_settings.read(session))
            check_password_strength(password)
            if not name.strip():
                raise ValidationFailed("Enter your name.")
            user = User(
                email=inv.email,
                name=name.strip()[:120],
                password_hash=await hash_password_async(password),
                email_confirmed_at=_now(),
            )
            session.add(user)
            await session.flush()
        assert user.id is not None
        session.add(Membership(workspace_id=inv.workspace_id, user_id=user.id, role=inv.role))
        inv.accepted_at = _now()
        session.add(inv)
        await audit.record(session, "invitation_accepted", workspace_id=inv.workspace_id,
                           actor_user_id=user.id, target=inv.email, details={"role": inv.role})
        return Accepted(email=inv.email, workspace_id=inv.workspace_id)


async def _owner_count(session: AsyncSession, workspace_id: int) -> int:
    count = await session.exec(
        select(func.count())
        .select_from(Membership)
        .where(Membership.workspace_id == workspace_id, Membership.role == Role.OWNER.value)
    )
    return int(count.one())


async def change_role(principal: Principal, membership_id: int, role: Role) -> None:
    _check_can_grant(principal, role)
    async with session_scope() as session:
        m = await in_workspace(session, Membership, membership_id, principal,
                               missing="Member not found.", lock=True)
        old = Role(m.role)
        if ROLE_RANK[old] > ROLE_RANK[principal.role]:
            raise PermissionDenied("You cannot change the role of someone above you.")
        demoting_owner = old == Role.OWNER and role != Role.OWNER
        if demoting_owner and await _owner_count(session, principal.workspace_id) <= 1:
            raise ValidationFailed("A workspace needs at least one owner.")
        m.role = role.value
        session.add(m)
        await audit.record_by(
            session,
            principal,
            "role_change",
            f"user:{m.user_id}",
            details={"from": old.value, "to": role.value},
        )
        user_id = m.user_id
    await publish_access_changed(user_id, workspace_id=principal.workspace_id,
                                 reason="role_change")


async def remove_member(principal: Principal, membership_id: int) -> None:
    principal.require(Role.ADMIN)
    async with session_scope() as session:
        m = await in_workspace(session, Membership, membership_id, principal,
                               missing="Member not found.", lock=True)
        if m.user_id == principal.user_id:
            raise ValidationFailed("You cannot remove yourself.")
        if ROLE_RANK[Role(m.role)] > ROLE_RANK[principal.role]:
            raise PermissionDenied("You cannot remove someone above you.")
        if m.role == Role.OWNER.value and await _owner_count(session, principal.workspace_id) <= 1:
            raise ValidationFailed("A workspace needs at least one owner.")
        # Their sessions in this workspace fail the membership check on the next request.
        await session.delete(m)
        await audit.record_by(session, principal, "member_removed", f"user:{m.user_id}")
        user_id = m.user_id
    # Their open consoles stop receiving this workspace's conversations now.
    await publish_access_changed(user_id, workspace_id=principal.workspace_id,
                                 reason="member_removed")
