"""Operators working from Telegram (backend_services/channels/telegram/operators.py):
the deep link that links an account, the "Take it" button of an alert, and what a linked
operator writes — a reply into the conversation they took, or /queue, /release, /close.

First among the routers: a linked operator's messages must not reach the visitor flow.
Everything is done as that person through the conversation services, which check it.
"""

from __future__ import annotations

from typing import Any

from aiogram import Bot, F, Router
from aiogram.filters import Command, CommandObject, CommandStart, Filter
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message

from backend_services.channels.telegram import limiter
from backend_services.channels.telegram import operators as ops
from backend_services.core import catalogue
from backend_services.core.errors import DomainError
from bot_fleet import contacts
from bot_fleet.context import BotContext
from bot_fleet.delivery import Delivery

router = Router(name="operators")


class LinkedOperator(Filter):
    """Passes (with `op`) for a private chat of an operator linked through this bot."""

    async def __call__(self, message: Message, ctx: BotContext) -> bool | dict[str, Any]:
        if message.chat.type != "private" or message.from_user is None:
            return False
        op = await ops.operator_chat(ctx.channel_id, ctx.workspace_id, message.from_user.id)
        return {"op": op} if op is not None else False


def _say(op: ops.OperatorChat, key: str, **values: Any) -> str:
    return catalogue.text(op.language, f"telegram.{key}",
                          **{k: str(v) for k, v in values.items()})


@router.message(CommandStart(deep_link=True, magic=F.args.startswith(ops.START_PREFIX)))
async def on_link(message: Message, command: CommandObject, bot: Bot, ctx: BotContext,
                  delivery: Delivery) -> None:
    """/start op-<token>: the deep link from the operator's Settings page."""
    if message.from_user is None or message.chat.type != "private":
        return
    token = (command.args or "")[len(ops.START_PREFIX):]
    answer = await ops.complete_link(
        ctx.channel_id, ctx.workspace_id, token, message.from_user.id, message.chat.id,
        contacts.display_name(message.from_user, message.chat))
    await delivery.send_now(bot, ctx, message.chat.id, answer, is_group=False)


@router.callback_query(F.data.startswith(ops.TAKE_PREFIX))
async def on_take(query: CallbackQuery, bot: Bot, ctx: BotContext,
                  delivery: Delivery) -> None:
    """"Take it" under an alert. The dialog id in the button is only a request: the
    operator must be linked here, and `handoff.accept` loads it in their workspace."""
    dialog_id = ops.read_take(query.data)
    op = await ops.operator_chat(ctx.channel_id, ctx.workspace_id, query.from_user.id)
    if dialog_id is None or op is None:
        await query.answer()
        return
    try:
        await ops.take(op, dialog_id)
    except DomainError as exc:
        await query.answer(exc.message[:180])
        await delivery.send_now(bot, ctx, op.chat_id,
                                _say(op, "operator_not_yours", reason=exc.message),
                                is_group=False)
        return
    await query.answer()
    await delivery.send_now(bot, ctx, op.chat_id, _say(op, "operator_taken", dialog=dialog_id),
                            is_group=False)


@router.message(Command("queue"), LinkedOperator())
async def on_queue(message: Message, bot: Bot, ctx: BotContext, op: ops.OperatorChat,
                   delivery: Delivery) -> None:
    waiting = await ops.waiting(op)
    if not waiting:
        await delivery.send_now(bot, ctx, op.chat_id, _say(op, "operator_queue_empty"),
                                is_group=False)
        return
    for dialog_id, preview in waiting:
        async with limiter.sending(ctx.bot_id, op.chat_id, is_group=False):
            await bot.send_message(
                op.chat_id, _say(op, "operator_queue", dialog=dialog_id, preview=preview),
                reply_markup=InlineKeyboardMarkup.model_validate(
                    ops.take_keyboard(op.language, dialog_id)))


@router.message(Command("release", "close"), LinkedOperator())
async def on_hand_back(message: Message, command: CommandObject, bot: Bot, ctx: BotContext,
                       op: ops.OperatorChat, delivery: Delivery) -> None:
    try:
        if command.command == "release":
            done = _say(op, "operator_released", dialog=await ops.release(op))
        else:
            done = _say(op, "operator_closed", dialog=await ops.close(op))
    except DomainError as exc:
        done = exc.message
    await delivery.send_now(bot, ctx, op.chat_id, done, is_group=False)


@router.message(F.text, LinkedOperator())
async def on_reply(message: Message, bot: Bot, ctx: BotContext, update_id: int,
                   op: ops.OperatorChat, delivery: Delivery) -> None:
    """The operator's text goes into the conversation they took, as their reply (a
    redelivered update is the same reply: its client id is the update's)."""
    assert message.text is not None
    try:
        await ops.reply(op, message.text, update_id)
    except DomainError as exc:
        await delivery.send_now(bot, ctx, op.chat_id, exc.message, is_group=False)
