"""The demo workspace created on a fresh install: an owner, an operator and one assistant.

Credentials are random, printed once when they are created, and never stored in clear.
"""

from __future__ import annotations

import secrets

from sqlmodel import select

from backend_services import auth
from backend_services.db import dispose_engine, session_scope
from backend_services.models import Assistant, Balance, Role, User, Workspace

DEMO_OWNER = "owner@demo.replyx.dev"
DEMO_OPERATOR = "operator@demo.replyx.dev"


def _password() -> str:
    return "Demo-" + secrets.token_urlsafe(9)


async def ensure_demo() -> None:
    try:
        async with session_scope() as session:
            if (await session.exec(select(User).where(User.email == DEMO_OWNER))).first():
                return
            ws = (await session.exec(select(Workspace).where(Workspace.is_demo))).first()
            if ws is None:
                ws = Workspace(name="Demo Support", is_demo=True)
                session.add(ws)
                await session.flush()
                assert ws.id is not None
                session.add(Balance(workspace_id=ws.id, currency=ws.currency))
                session.add(Assistant(
                    workspace_id=ws.id,
                    name="Help centre assistant",
                    system_prompt="You answer customers' questions about billing, accounts "
                    "and projects, politely and briefly, from the help-centre articles.",
                    language="en",
                    greeting="Hi! Ask me anything about your account or billing.",
                ))
            assert ws.id is not None
            ws_id = ws.id
        owner_pw, operator_pw = _password(), _password()
        await auth.create_user(email=DEMO_OWNER, password=owner_pw, name="Demo Owner",
                               workspace_id=ws_id, role=Role.OWNER, platform_admin=True)
        await auth.create_user(email=DEMO_OPERATOR, password=operator_pw, name="Demo Operator",
                               workspace_id=ws_id, role=Role.OPERATOR)
        print("", flush=True)
        print("  Demo workspace created. These passwords are shown only once:", flush=True)
        print(f"    owner (also platform admin): {DEMO_OWNER} / {owner_pw}", flush=True)
        print(f"    operator:                    {DEMO_OPERATOR} / {operator_pw}", flush=True)
        print("  Lost them? `replyx create-admin --email … --password …` resets a password.",
              flush=True)
        print("", flush=True)
    finally:
        await dispose_engine()
