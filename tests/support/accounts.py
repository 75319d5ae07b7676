"""Accounts for service-level tests: a confirmed owner signed in, and joining another
workspace through the mailed invitation, as a person would."""

from __future__ import annotations

import asyncio

from backend_services.core.principal import Principal
from backend_services.identity import auth, team
from backend_services.models import Role
from tests.support.smtp_server import SmtpTestServer

PW = "Correct-horse-9"


async def signed_in_owner(email: str, ws_name: str, user_agent: str = "") -> tuple[Principal, str]:
    """A confirmed owner of a new workspace, signed in: (principal, session id)."""
    await auth.signup(email=email, password=PW, name=email[0].upper(), workspace_name=ws_name)
    await auth.create_user(email=email, password=PW, name="x", workspace_id=None)  # confirm
    result = await auth.login(email=email, password=PW, user_agent=user_agent)
    return result.principal, result.session_id


async def join_by_invitation(inviter: Principal, email: str, smtp: SmtpTestServer,
                             role: Role = Role.OPERATOR) -> int:
    """An existing account accepts an invitation with one click; the workspace's id."""
    await team.invite(inviter, email, role)
    mail = await asyncio.to_thread(smtp.wait_for, email, "invited")
    token = mail.link("/invite").split("token=")[1]
    assert (await team.describe_invitation(token)).has_account
    accepted = await team.accept_invitation(token)  # no password asked again
    assert accepted.email == email
    return accepted.workspace_id


async def signed_in_platform_admin(email: str = "root@example.com") -> tuple[Principal, str]:
    """A confirmed platform admin (with a workspace of their own), signed in."""
    await auth.signup(email=email, password=PW, name="Root", workspace_name="Platform")
    await auth.create_user(email=email, password=PW, name="Root", workspace_id=None,
                           platform_admin=True)
    result = await auth.login(email=email, password=PW)
    return result.principal, result.session_id
