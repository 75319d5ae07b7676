"""/start and /operator."""

from __future__ import annotations

from aiogram import Bot, Router
from aiogram.filters import Command, CommandStart
from aiogram.types import Message

from backend_services.conversations import dialogs, turns
from bot_fleet import contacts
from bot_fleet.context import BotContext
from bot_fleet.delivery import Delivery

router = Router(name="commands")


@router.message(CommandStart())
async def on_start(message: Message, bot: Bot, ctx: BotContext, delivery: Delivery) -> None:
    """/start: the assistant's greeting. Sent directly (it stores nothing to deliver)."""
    greeting = await contacts.greeting(ctx)
    if greeting:
        await delivery.send_now(bot, ctx, message.chat.id, greeting,
                                is_group=contacts.is_group(message))


@router.message(Command("operator", "human", "оператор"))
async def on_operator(message: Message, ctx: BotContext) -> None:
    """/operator: ask for a person (the policy decides what happens; its system message
    reaches the chat through the outbox)."""
    actor = await contacts.actor_for(ctx, message.chat.id,
                                     contacts.display_name(message.from_user, message.chat))
    current = await dialogs.open_dialog(actor)
    await turns.request_human(actor, current.id)
