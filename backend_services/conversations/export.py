"""One conversation, whole, for staff: every message including internal notes, as data
(the public API's JSON) or as a plain-text transcript a person can read or attach to a
ticket elsewhere."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import col, select

from backend_services.conversations import store
from backend_services.conversations.views import DialogView, MessageView, dialog_view, message_views
from backend_services.core.db import session_scope
from backend_services.core.principal import Principal
from backend_services.models import Message, Role

EXPORT_MAX_MESSAGES = 10_000
_WHO = {"visitor": "Visitor", "ai": "AI", "operator": "Operator", "system": "System",
        "note": "Note"}


@dataclass(frozen=True)
class DialogExport:
    dialog: DialogView
    messages: list[MessageView]


async def export_dialog(principal: Principal, dialog_id: int) -> DialogExport:
    principal.require(Role.OPERATOR)
    async with session_scope() as session:
        dialog = await store.load(session, principal, dialog_id)
        rows = list(await session.exec(
            select(Message).where(col(Message.dialog_id) == dialog.id)
            .order_by(col(Message.id)).limit(EXPORT_MAX_MESSAGES)))
        return DialogExport(await dialog_view(session, dialog, for_user=principal.user_id),
                            await message_views(session, rows))


def as_text(export: DialogExport) -> str:
    d = export.dialog
    lines = [f"Conversation #{d.id} · {d.assistant_name} · {d.channel_kind}",
             f"Contact: {d.contact_name or 'unknown'}"
             + (f" <{d.contact_email}>" if d.contact_email else ""),
             f"Started: {d.created_at:%Y-%m-%d %H:%M UTC} · status: {d.status}", ""]
    for m in export.messages:
        who = _WHO.get(m.sender, m.sender)
        if m.author_name and m.sender in ("operator", "note"):
            who = f"{who} ({m.author_name})"
        when = f"{m.created_at:%Y-%m-%d %H:%M:%S}" if m.created_at else ""
        lines.append(f"[{when}] {who}: {m.content}")
    return "\n".join(lines) + "\n"
