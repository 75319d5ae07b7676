"""Shared set-up for the conversation tests: workspaces, operators, assistants, visitors."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from backend_services.assistants import service as assistants
from backend_services.assistants.service import AssistantInput
from backend_services.conversations import turns
from backend_services.conversations.actors import ContactActor, contact_actor
from backend_services.conversations.turns import AiReplyDone
from backend_services.core.db import session_scope
from backend_services.core.principal import Principal
from backend_services.identity import auth
from backend_services.knowledge import sources
from backend_services.models import Assistant, KnowledgeDocument, Message, Role

PW = "Correct-horse-9"
T = TypeVar("T")


async def owner(email: str, workspace: str, name: str = "", *,
                platform_admin: bool = False) -> Principal:
    await auth.signup(email=email, password=PW, name=name or email.split("@")[0],
                      workspace_name=workspace)
    await auth.create_user(email=email, password=PW, name=name or email.split("@")[0],
                           workspace_id=None, platform_admin=platform_admin)
    return (await auth.login(email=email, password=PW)).principal


async def member(ws: int, email: str, name: str, role: Role = Role.OPERATOR) -> Principal:
    await auth.create_user(email=email, password=PW, name=name, workspace_id=ws, role=role)
    return (await auth.login(email=email, password=PW)).principal


async def assistant(p: Principal, name: str = "Helper", language: str = "en") -> Assistant:
    a = await assistants.create_assistant(p, AssistantInput(name=name, language=language))
    assert a.id is not None
    return a


async def visitor(a: Assistant, external_id: str = "visitor-1", kind: str = "widget",
                  name: str = "") -> ContactActor:
    assert a.id is not None
    return await contact_actor(a.workspace_id, a.id, kind, external_id, name=name)


@dataclass
class Shop:
    """One workspace: an owner (admin), two operators (Anna, Boris), an assistant, a visitor."""

    owner: Principal
    anna: Principal
    boris: Principal
    bot: Assistant
    visitor: ContactActor


async def shop(tag: str = "a", language: str = "en", *, platform_admin: bool = False) -> Shop:
    o = await owner(f"owner-{tag}@example.com", f"Shop {tag}", name=f"Owner {tag}",
                    platform_admin=platform_admin)
    anna = await member(o.workspace_id, f"anna-{tag}@example.com", "Anna")
    boris = await member(o.workspace_id, f"boris-{tag}@example.com", "Boris")
    bot = await assistant(o, f"Bot {tag}", language)
    return Shop(o, anna, boris, bot, await visitor(bot, f"visitor-{tag}"))


async def eventually(check: Callable[[], Awaitable[T | None]], what: str,
                     timeout: float = 15.0) -> T:
    """Poll `check` until it returns something truthy, or fail saying what never happened."""
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen in time")
        await asyncio.sleep(0.05)  # poll: waiting for another task / Redis expiry


async def ingested(p: Principal, assistant_id: int, filename: str, data: bytes) -> int:
    """Upload a file and wait until the ingestion worker has indexed it; its document id."""
    view = await sources.add_file(p, assistant_id, filename, data)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        async with session_scope() as s:
            doc = await s.get(KnowledgeDocument, view.id)
        assert doc is not None
        if doc.status in ("ready", "failed"):
            assert doc.status == "ready", doc.error
            return view.id
        await asyncio.sleep(0.1)  # poll: the job updates the row as it goes
    raise AssertionError(f"{filename} was not ingested in time")


@dataclass(frozen=True)
class Reply:
    content: str
    mode: str  # how the answer was made, as stored (answers.AnswerMode)


async def ask(actor: ContactActor, text: str, cid: str) -> tuple[int, Reply | None]:
    """A visitor's message through the turn every channel uses: the dialog and, when the
    AI answered, its answer as PostgreSQL holds it."""
    start = await turns.handle_visitor_message(actor, text, cid)
    done = None
    if start.ai_should_answer:
        async for item in turns.stream_ai_reply(actor, start.posted.dialog.id,
                                                start.posted.message.id):
            if isinstance(item, AiReplyDone):
                done = item
    if done is None:
        return start.posted.dialog.id, None
    async with session_scope() as session:
        stored = await session.get(Message, done.message.id)
    assert stored is not None
    return start.posted.dialog.id, Reply(stored.content, stored.answer_mode)
