"""One visitor turn, the same for every channel: limit, store, maybe hand off, maybe answer.

The widget and the Telegram fleet call `handle_visitor_message` with a verified actor, and
then, when it says so, stream `stream_ai_reply` to the visitor. The AI answers only while
the dialog is with the AI and only for a message that was not a retry, so a retry can
never be billed twice. The AI's message is stored (with its sources, confidence and
usage) before anyone is told, and its weak answers feed the handoff policy.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select

from backend_services.ai.pricing import MICRO
from backend_services.assistants import service as assistants
from backend_services.billing import charges
from backend_services.conversations import (
    answer_ceiling,
    balance_stop,
    dialogs,
    handoff,
    intent,
    pending_answers,
    store,
)
from backend_services.conversations.actors import ContactActor
from backend_services.conversations.admission import AnswerGate
from backend_services.conversations.events import publish_dialog_changed
from backend_services.conversations.handoff import HandoffResult
from backend_services.conversations.policy import (
    REASON_VISITOR_BUTTON,
    get_policy,
    load_policy,
    trigger_for,
)
from backend_services.conversations.sql import run
from backend_services.conversations.views import MessageView, PostedMessage, message_view
from backend_services.core import ratelimit
from backend_services.core.db import session_scope
from backend_services.core.errors import Conflict, NotFound
from backend_services.knowledge import answers as answer_engine
from backend_services.models import AIUsage, Assistant, Message

log = logging.getLogger(__name__)

# How many earlier visible turns the engine sees (it trims further to its token budget).
HISTORY_TURNS = 20
_ROLES = {"visitor": "user", "ai": "assistant", "operator": "assistant"}


@dataclass(frozen=True)
class TurnStart:
    posted: PostedMessage
    ai_should_answer: bool
    handoff: HandoffResult | None


@dataclass(frozen=True)
class AiReplyDone:
    message: MessageView
    handoff: HandoffResult | None


async def handle_visitor_message(
    actor: ContactActor, text: str, client_id: str | None, *, ip: str = "",
    gate: AnswerGate | None = None, answer_holder: str = "", redelivered: bool = False,
) -> TurnStart:
    """Rate-limit (per visitor and per IP), store the message, check the visitor's words
    against the handoff policy. A refused message is not stored: too fast (RateLimited),
    or `gate` says this process already writes as many answers as it can (Busy).

    With `answer_holder` (the widget) the answer owed is leased to that holder in
    PostgreSQL (pending_answers), and a resend of a stored question whose writer died is
    answered by this holder. A channel that sends a message again until it is answered
    (Telegram updates: `redelivered`) covers a lost answer itself: a duplicate is answered
    again while the AI has the dialog (`stream_ai_reply` replays an answer already stored,
    without a model call); any other duplicate is not answered again.

    `ai_should_answer` is the one decision both channels follow."""
    store.clean_text(text)  # refuse empty / over-long before counting it against the limit
    if gate is not None:
        gate.check()
    await ratelimit.check_visitor_message(f"{actor.workspace_id}:{actor.contact_id}", ip)
    posted = await dialogs.visitor_message(actor, text, client_id, answer_holder=answer_holder)
    if posted.duplicate:
        if answer_holder:
            resumed = await pending_answers.claim_resend(
                posted.message.id, actor.workspace_id, answer_holder)
        else:
            resumed = redelivered and posted.dialog.status == "ai"
        return TurnStart(posted, ai_should_answer=resumed, handoff=None)
    result: HandoffResult | None = None
    if posted.dialog.status == "ai":
        policy = await get_policy(actor.workspace_id, actor.assistant_id)
        reason = trigger_for(policy, posted.message.content,
                             intent=await intent.classify(posted.message.content))
        if reason is not None:
            result = await handoff.request(posted.dialog.id, actor.workspace_id,
                                           reason=reason, by="visitor")
            posted = replace(posted, dialog=result.dialog)
    # After any handoff attempt the AI stays quiet: the visitor asked for a person, and the
    # system message already said what happens next.
    ai = posted.dialog.status == "ai" and result is None
    if ai and not await charges.may_answer(actor.workspace_id):
        # The balance is spent: the visitor is told, the dialog goes to the operators.
        result = await balance_stop.hand_over(actor, posted.dialog.id)
        posted = replace(posted, dialog=result.dialog)
        ai = False
    if ai and not await answer_ceiling.admit(actor.workspace_id):
        # The workspace's minute is spent: the message stays for the operators.
        await answer_ceiling.hold_back(actor, posted.dialog.id)
        ai = False
    if answer_holder and not ai:
        await pending_answers.drop(posted.message.id)
    return TurnStart(posted, ai_should_answer=ai, handoff=result)


async def request_human(actor: ContactActor, dialog_id: int) -> HandoffResult:
    """The widget's "talk to a human" button and Telegram's /operator."""
    async with session_scope() as session:
        dialog = await store.load(session, actor, dialog_id)
        assert dialog.id is not None
    return await handoff.request(dialog.id, actor.workspace_id, reason=REASON_VISITOR_BUTTON,
                                 by="visitor")


def _sources(answer: answer_engine.Answer) -> list[dict[str, Any]]:
    return [{"kind": s.kind, "title": s.title, "passage": s.passage, "ref_id": s.ref_id}
            for s in answer.sources]


async def _link_usage(session: Any, workspace_id: int, message_id: int,
                      answer: answer_engine.Answer) -> None:
    """Point the pool's usage row for this answer at the message. The pool writes the row
    before the message exists, so it is found by what it recorded (key, model, tokens)
    among this workspace's recent unlinked successes."""
    if answer.key_id is None or not answer.model:
        return
    candidate = (
        select(col(AIUsage.id))
        .where(col(AIUsage.workspace_id) == workspace_id, col(AIUsage.key_id) == answer.key_id,
               col(AIUsage.model) == answer.model[:120], col(AIUsage.message_id).is_(None),
               col(AIUsage.tokens_in) == answer.tokens_in,
               col(AIUsage.tokens_out) == answer.tokens_out,
               col(AIUsage.created_at) >= sa.func.now() - sa.text("interval '10 minutes'"))
        .order_by(col(AIUsage.id).desc())
        .limit(1)
        .scalar_subquery()
    )
    await run(session, sa.update(AIUsage).where(col(AIUsage.id) == candidate)
              .values(message_id=message_id))


async def stream_ai_reply(
    actor: ContactActor, dialog_id: int, question_message_id: int
) -> AsyncIterator[str | AiReplyDone]:
    """Yield the AI's answer as text deltas, then `AiReplyDone` once the answer is stored.

    Raises Conflict when a person has the dialog (the AI must not talk over them). The same
    question is answered once: a second call replays the stored answer without a model call.
    """
    client_id = f"ai:{question_message_id}"
    async with session_scope() as session:
        dialog = await store.load(session, actor, dialog_id)
        question = await session.get(Message, question_message_id)
        if question is None or question.dialog_id != dialog.id or question.sender != "visitor":
            raise NotFound("Message not found.")
        answered = (await session.exec(
            select(Message).where(col(Message.dialog_id) == dialog.id,
                                  col(Message.client_id) == client_id))).first()
        if answered is not None:
            await pending_answers.settle(session, question_message_id)
            view = await message_view(session, answered)
            yield view.content
            yield AiReplyDone(view, None)
            return
        taken = dialog.status != "ai"
        if taken:
            await pending_answers.settle(session, question_message_id)
        else:
            row = await session.get(Assistant, dialog.assistant_id)
            assert row is not None
            assistant = assistants.view_of(row)
            earlier = list(await session.exec(
                select(Message)
                .where(col(Message.dialog_id) == dialog.id, col(Message.id) < question.id,
                       col(Message.sender).in_(tuple(_ROLES)))
                .order_by(col(Message.id).desc())
                .limit(HISTORY_TURNS)
            ))
            turns = [{"role": _ROLES[m.sender], "content": m.content}
                     for m in reversed(earlier)]
            policy = await load_policy(session, actor.workspace_id, actor.assistant_id)
            question_text, status = question.content, dialog.status
    if taken:
        # Committed above: no answer is owed once a person has the dialog.
        raise Conflict("A person is handling this conversation now.")
    assert assistant is not None

    await publish_dialog_changed(actor.workspace_id, dialog_id, status, kind="typing", by="ai")
    final: answer_engine.Answer | None = None
    said = await intent.classify(question_text)
    async for item in answer_engine.answer(
        assistant, question_text, turns,
        small_talk=said.detail if said.kind == "smalltalk" else "",
    ):
        if isinstance(item, answer_engine.Delta):
            yield item.text
        else:
            final = item
    assert final is not None

    failed = final.low_confidence or final.mode == "unknown"
    async with session_scope() as session:
        dialog = await store.lock_by_id(session, dialog_id, actor.workspace_id)
        message, created = await store.add_message(
            session, dialog, "ai", final.text, client_id=client_id,
            sources=_sources(final), confidence=final.confidence,
            tokens_in=final.tokens_in, tokens_out=final.tokens_out,
            cost_micro=final.cost_micro, cost_minor=-(-final.cost_micro // MICRO),
            cost_currency=final.cost_currency, model=final.model[:120], key_id=final.key_id,
            latency_ms=final.latency_ms, answer_mode=final.mode,
        )
        assert message.id is not None
        await pending_answers.settle(session, question_message_id)
        if created:
            dialog.failed_in_row = dialog.failed_in_row + 1 if failed else 0
            session.add(dialog)
            await _link_usage(session, actor.workspace_id, message.id, final)
            await charges.charge_answer(
                session, actor.workspace_id, message_id=message.id, dialog_id=dialog_id,
                channel_kind=actor.channel_kind, usage=charges.AnswerUsage.of(final))
        view = await message_view(session, message)
        status, failed_in_row = dialog.status, dialog.failed_in_row
    if created:
        await publish_dialog_changed(actor.workspace_id, dialog_id, status,
                                     message_id=view.id, kind="message", by="ai")

    result: HandoffResult | None = None
    if created and status == "ai":
        reason = trigger_for(
            policy, "",
            answer_confidence=0.0 if final.low_confidence else final.confidence,
            found_nothing=final.mode == "unknown",
            failed_in_row=failed_in_row,
        )
        if reason is not None:
            result = await handoff.request(dialog_id, actor.workspace_id, reason=reason,
                                           by="system")
    yield AiReplyDone(view, result)
