"""Who is writing, as the conversation services know them, and what the bot says in its
own voice (the assistant's language and greeting) — shared by the routers."""

from __future__ import annotations

from aiogram.types import Chat, Message, User

from backend_services.assistants import service as assistants
from backend_services.conversations.actors import ContactActor, contact_actor
from backend_services.core import catalogue
from bot_fleet.context import BotContext


async def actor_for(ctx: BotContext, chat_id: int, name: str) -> ContactActor:
    """The Telegram chat as a contact of the bot's workspace (created on first contact)."""
    return await contact_actor(ctx.workspace_id, ctx.assistant_id, "telegram", str(chat_id),
                               channel_id=ctx.channel_id, name=name)


def display_name(user: User | None, chat: Chat) -> str:
    if user is None:
        return chat.title or ""
    return " ".join(p for p in (user.first_name, user.last_name) if p) or (user.username or "")


def is_group(message: Message) -> bool:
    return message.chat.type != "private"


async def fixed_text(ctx: BotContext, key: str) -> str:
    """One of the bot's own replies (`telegram.<key>` in the catalogue), in the assistant's
    language; English when the assistant is gone."""
    voice = await assistants.voice_of(ctx.workspace_id, ctx.assistant_id)
    return catalogue.text(voice.language if voice else catalogue.DEFAULT_LANGUAGE,
                          f"telegram.{key}")


async def greeting(ctx: BotContext) -> str:
    """The assistant's own greeting, or the catalogue's in its language."""
    voice = await assistants.voice_of(ctx.workspace_id, ctx.assistant_id)
    if voice is not None and voice.greeting:
        return voice.greeting
    return catalogue.text(voice.language if voice else catalogue.DEFAULT_LANGUAGE,
                          "telegram.greeting")
