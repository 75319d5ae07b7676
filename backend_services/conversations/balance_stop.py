"""The hard stop at zero, in a conversation: the AI does not answer, the visitor is told so
politely in their language, and the dialog goes to the human queue (operators keep
working). Billing decides whether the balance allows an answer (`charges.may_answer`);
this module only says what the visitor and the operators see.
"""

from __future__ import annotations

from backend_services.conversations import handoff, store
from backend_services.conversations.actors import ContactActor
from backend_services.conversations.events import publish_dialog_changed
from backend_services.conversations.handoff import HandoffResult
from backend_services.conversations.texts import text
from backend_services.core.db import session_scope

REASON_BALANCE = "the workspace's balance is spent"


async def hand_over(actor: ContactActor, dialog_id: int) -> HandoffResult:
    async with session_scope() as session:
        dialog = await store.lock_by_id(session, dialog_id, actor.workspace_id)
        language = await store.language_of(session, dialog)
        message, _ = await store.add_message(session, dialog, "system",
                                             text(language, "ai_paused"))
        status = dialog.status
    await publish_dialog_changed(actor.workspace_id, dialog_id, status,
                                 message_id=message.id, kind="message", by="system")
    return await handoff.request(dialog_id, actor.workspace_id, reason=REASON_BALANCE,
                                 by="system", required=True)
