"""A workspace's ceiling on AI answers per minute holds however many visitors ask at once;
past it nothing is lost (the messages wait for the operators), the visitors are told
politely, another workspace is untouched, and the owners hear about it once."""

from __future__ import annotations

import asyncio

import pytest
from sqlmodel import col, select

from backend_services.conversations import answer_ceiling, turns
from backend_services.core.db import session_scope
from backend_services.models import AuditLog, Message
from tests.integration.conversation_helpers import eventually, shop, visitor
from tests.support.smtp_server import SmtpTestServer


@pytest.fixture
def ceiling_3(env: pytest.MonkeyPatch) -> None:
    env.setenv("REPLYX_AI_ANSWERS_PER_WORKSPACE_PER_MINUTE", "3")


async def test_many_visitors_at_once_get_no_more_ai_answers_than_the_ceiling(
    clean: None, ceiling_3: None, worker: None, smtp: SmtpTestServer
) -> None:
    a, b = await shop("a"), await shop("b")
    crowd = [await visitor(a.bot, f"flood-{i}") for i in range(20)]
    started = await asyncio.gather(*(
        turns.handle_visitor_message(v, f"question {i}", f"cid-flood-{i:04d}", ip=f"10.0.{i}.1")
        for i, v in enumerate(crowd)))

    answered = [s for s in started if s.ai_should_answer]
    held = [s for s in started if not s.ai_should_answer]
    assert len(answered) == 3 and len(held) == 17
    async with session_scope() as session:
        rows = (await session.exec(select(Message).where(col(Message.sender) == "visitor"))).all()
        notices = (await session.exec(select(Message).where(
            col(Message.sender) == "system",
            col(Message.content).contains("answering a lot of questions")))).all()
    assert len(rows) == 20  # every question is stored for a person to see
    assert sorted(n.dialog_id for n in notices) == sorted(s.posted.dialog.id for s in held)

    # Another workspace's visitors are not affected by this one's flood.
    other = await turns.handle_visitor_message(b.visitor, "hello", "cid-other-0001")
    assert other.ai_should_answer

    # The owners are told once, however many visitors were held back.
    await eventually(lambda: _ceiling_audits(a.owner.workspace_id), "the owner's note")
    mail = await asyncio.to_thread(smtp.wait_for, "owner-a@example.com", "faster than the AI")
    assert "3 AI answers per minute" in mail.text
    more = await turns.handle_visitor_message(await visitor(a.bot, "late"), "and me?",
                                              "cid-late-0001")
    assert not more.ai_should_answer
    assert len(await _ceiling_audits(a.owner.workspace_id)) == 1


async def test_a_russian_assistant_holds_visitors_back_in_russian(
    clean: None, ceiling_3: None
) -> None:
    s = await shop("ru", language="ru")
    for _ in range(3):
        assert await answer_ceiling.admit(s.owner.workspace_id)
    started = await turns.handle_visitor_message(s.visitor, "Сколько стоит доставка?",
                                                 "cid-ru-0001")
    assert not started.ai_should_answer
    async with session_scope() as session:
        notice = (await session.exec(select(Message).where(
            col(Message.sender) == "system"))).one()
    assert notice.content.startswith("Сейчас ассистенту задают очень много вопросов")


async def _ceiling_audits(workspace_id: int) -> list[AuditLog]:
    async with session_scope() as session:
        return list(await session.exec(select(AuditLog).where(
            col(AuditLog.action) == "ai_answer_ceiling_reached",
            col(AuditLog.workspace_id) == workspace_id)))
