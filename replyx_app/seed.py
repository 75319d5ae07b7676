"""The demo workspace created on a fresh install: an owner, an operator, and two assistants
(English and Russian) whose knowledge is real, openly licensed help-centre pages
(replyx_app/demo_knowledge/README.md has the attribution).

Credentials are random, printed once when they are created, and never stored in clear.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from sqlmodel import select

from backend_services.core import jobs
from backend_services.core.db import dispose_engine, session_scope
from backend_services.core.principal import Principal
from backend_services.core.settings import get_settings
from backend_services.identity import auth
from backend_services.identity.workspaces import create_workspace
from backend_services.knowledge import sources
from backend_services.models import Assistant, Role, User
from backend_services.widget import settings as widget
from backend_services.widget.settings import WidgetInput

DEMO_OWNER = "owner@demo.replyx.dev"
DEMO_OPERATOR = "operator@demo.replyx.dev"
KNOWLEDGE = Path(__file__).resolve().parent / "demo_knowledge"

ASSISTANTS = [
    {
        "name": "Analytics help (EN)",
        "language": "en",
        "system_prompt": "You are the support assistant of a web analytics service. Answer "
        "customers' questions about plans, billing, trials, teams and security briefly and "
        "politely, from the help-centre articles.",
        "greeting": "Hi! Ask me anything about plans, billing or your account.",
        "folder": "plausible",
    },
    {
        "name": "Облако: поддержка (RU)",
        "language": "ru",
        "system_prompt": "Ты — ассистент поддержки облачной платформы. Отвечай кратко и "
        "вежливо на вопросы о балансе, оплате, возвратах, документах и проектах по статьям "
        "справочного центра.",
        "greeting": "Здравствуйте! Спросите меня об оплате, балансе или документах.",
        "folder": "vkcloud",
    },
]


def _password() -> str:
    return "Demo-" + secrets.token_urlsafe(9)


async def _create_workspace() -> tuple[int, list[tuple[int, str]]]:
    async with session_scope() as session:
        ws_id = await create_workspace(session, name="Demo Support", is_demo=True)
        made: list[tuple[int, str]] = []
        for spec in ASSISTANTS:
            a = Assistant(workspace_id=ws_id, name=spec["name"], language=spec["language"],
                          system_prompt=spec["system_prompt"], greeting=spec["greeting"])
            session.add(a)
            await session.flush()
            assert a.id is not None
            made.append((a.id, spec["folder"]))
        return ws_id, made


async def ensure_demo() -> None:
    try:
        async with session_scope() as session:
            if (await session.exec(select(User).where(User.email == DEMO_OWNER))).first():
                return
        ws_id, made = await _create_workspace()
        owner_pw, operator_pw = _password(), _password()
        owner_id = await auth.create_user(email=DEMO_OWNER, password=owner_pw, name="Demo Owner",
                                          workspace_id=ws_id, role=Role.OWNER,
                                          platform_admin=True)
        await auth.create_user(email=DEMO_OPERATOR, password=operator_pw, name="Demo Operator",
                               workspace_id=ws_id, role=Role.OPERATOR)
        owner = Principal(user_id=owner_id, workspace_id=ws_id, role=Role.OWNER)
        for (assistant_id, folder), spec in zip(made, ASSISTANTS, strict=True):
            # The demo widgets may load on the app's own origin: /demo shows them.
            await widget.update_settings(owner, assistant_id, WidgetInput(
                title=spec["name"], language=spec["language"],
                allowed_origins=(get_settings().base_url,)))
            for path in sorted((KNOWLEDGE / folder).glob("*.md")):
                await sources.add_file(owner, assistant_id, path.name, path.read_bytes())
        print("", flush=True)
        print("  Demo workspace created. These passwords are shown only once:", flush=True)
        print(f"    owner (also platform admin): {DEMO_OWNER} / {owner_pw}", flush=True)
        print(f"    operator:                    {DEMO_OPERATOR} / {operator_pw}", flush=True)
        print("  Lost them? `replyx create-admin --email … --password …` resets a password.",
              flush=True)
        print("  The demo assistants' help-centre articles are being indexed in the background",
              flush=True)
        print("  (Knowledge page shows the progress).", flush=True)
        print(f"  Try the chat widget as a visitor: {get_settings().base_url}/demo", flush=True)
        print("", flush=True)
    finally:
        await jobs.close()
        await dispose_engine()
