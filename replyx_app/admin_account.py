"""`replyx create-admin`: a platform administrator, with a workspace to sign in to."""

from __future__ import annotations

from sqlmodel import select

from backend_services.core.db import dispose_engine, session_scope
from backend_services.identity import auth
from backend_services.identity.workspaces import create_workspace
from backend_services.models import Membership, Role, User


async def create_platform_admin(email: str, password: str, name: str) -> None:
    try:
        email = auth.normalize_email(email)
        async with session_scope() as session:
            user = (await session.exec(select(User).where(User.email == email))).first()
            has_ws = user is not None and (
                await session.exec(select(Membership).where(Membership.user_id == user.id))
            ).first() is not None
            ws_id = None
            if not has_ws:
                ws_id = await create_workspace(session, name="Platform administration")
        await auth.create_user(email=email, password=password, name=name, workspace_id=ws_id,
                               role=Role.OWNER, platform_admin=True)
    finally:
        await dispose_engine()
