"""The star buttons of the rating keyboard (bot_fleet/keyboards.py)."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.types import CallbackQuery

from backend_services.conversations import dialogs
from backend_services.core.errors import DomainError
from bot_fleet import contacts, keyboards
from bot_fleet.context import BotContext

router = Router(name="ratings")


@router.callback_query(F.data.startswith(keyboards.RATE_PREFIX))
async def on_rate(query: CallbackQuery, ctx: BotContext) -> None:
    """A star pressed. The dialog id in the button is only a request: `dialogs.rate`
    checks that it is this chat's own dialog."""
    press = keyboards.read_rating(query.data)
    chat = query.message.chat if query.message is not None else None
    if chat is None or press is None:
        await query.answer()
        return
    actor = await contacts.actor_for(ctx, chat.id,
                                     contacts.display_name(query.from_user, chat))
    try:
        await dialogs.rate(actor, press.dialog_id, press.score)
    except DomainError as exc:
        await query.answer(exc.message[:180])
        return
    await query.answer(await contacts.fixed_text(ctx, "rate_thanks"))
