"""The hard stop at zero, in a conversation: the AI does not answer, the visitor is told so
politely in their language, and the dialog goes to the human queue (operators keep
working). Billing decides whether the balance allows an answer (`charges.may_answer`);
this module only says what the visitor and the operators see.
"""

from __future__ import annotations

from backend_services.conversations import handoff, system_notes
from backend_services.conversations.actors import ContactActor
from backend_services.conversations.handoff import HandoffResult

REASON_BALANCE = "the workspace's balance is spent"


async def hand_over(actor: ContactActor, dialog_id: int) -> HandoffResult:
    await system_notes.tell(actor, dialog_id, "ai_paused")
    return await handoff.request(dialog_id, actor.workspace_id, reason=REASON_BALANCE,
                                 by="system", required=True)
