"""Updates that Telegram POSTs to the web app (bots in webhook mode), handed to the fleet.

The web app only checks the bot's secret and appends the update, as a typed event, to the
`telegram-updates` Redis Stream; fleet workers read it with the `fleet-webhook` consumer
group and run the same handlers as for polling. Acknowledged after handling, so a worker
that dies mid-update leaves it to be claimed again. (This event is the one that carries
content rather than ids: the update exists nowhere else yet.)
"""

from __future__ import annotations

from typing import Any, ClassVar

from backend_services.core import events

UPDATES_STREAM = "telegram-updates"
UPDATES_MAXLEN = 100_000


class TelegramUpdateReceived(events.Event):
    type: ClassVar[str] = "telegram.update"
    channel_id: int
    update: dict[str, Any]


async def accept_update_secret(channel_id: int, secret: str) -> bool:
    """The bot exists, is in webhook mode, and `secret` is its own (constant-time)."""
    from backend_services.channels.telegram import bots as telegram_bots

    if not secret:
        return False
    bot = await telegram_bots.verify_webhook_secret(channel_id, secret)
    return bot is not None and bot.mode == "webhook"


async def enqueue_update(workspace_id: int | None, channel_id: int,
                         update: dict[str, Any]) -> str:
    event = TelegramUpdateReceived(workspace_id=workspace_id, channel_id=channel_id,
                                   update=update)
    return await events.enqueue(UPDATES_STREAM, event, maxlen=UPDATES_MAXLEN)


async def telegram_chat_of(dialog_id: int) -> tuple[int, int, str] | None:
    """(channel id, chat id, assistant language) of a Telegram dialog; None otherwise.

    For the fleet, which asks the user to rate a closed conversation in its chat."""
    from sqlmodel import col, select

    from backend_services.core.db import session_scope
    from backend_services.models import Assistant, Contact, Dialog

    async with session_scope() as session:
        row = (await session.exec(
            select(Dialog.channel_id, Contact.external_id, Assistant.language)
            .join(Contact, col(Contact.id) == col(Dialog.contact_id))
            .join(Assistant, col(Assistant.id) == col(Dialog.assistant_id))
            .where(col(Dialog.id) == dialog_id, col(Contact.kind) == "telegram")
        )).first()
    if row is None or row[0] is None or not str(row[1]).lstrip("-").isdigit():
        return None
    return int(row[0]), int(row[1]), str(row[2])
