"""A fixed system message to the visitor of one dialog, in their language, stored and then
announced: what the assistant says when it holds back (the answer ceiling, a spent
balance)."""

from __future__ import annotations

from backend_services.conversations import store
from backend_services.conversations.actors import ContactActor
from backend_services.conversations.events import publish_dialog_changed
from backend_services.conversations.texts import text
from backend_services.core.db import session_scope


async def tell(actor: ContactActor, dialog_id: int, key: str) -> None:
    """Add the catalogue's `system.<key>` to the dialog and tell everyone watching it."""
    async with session_scope() as session:
        dialog = await store.lock_by_id(session, dialog_id, actor.workspace_id)
        language = await store.language_of(session, dialog)
        message, _ = await store.add_message(session, dialog, "system", text(language, key))
        status = dialog.status
    await publish_dialog_changed(actor.workspace_id, dialog_id, status,
                                 message_id=message.id, kind="message", by="system")
