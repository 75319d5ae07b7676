"""The worker's aiogram Dispatcher: the routers in their order, and the worker's services
in the dispatcher's data (aiogram hands them to every handler that names them)."""

from __future__ import annotations

from aiogram import Dispatcher

from bot_fleet.delivery import Delivery
from bot_fleet.routers import commands, messages, operators, ratings
from bot_fleet.stats import FleetStats


def build_dispatcher(delivery: Delivery, stats: FleetStats) -> Dispatcher:
    dp = Dispatcher(delivery=delivery, stats=stats)
    # `operators` first: a linked operator's messages are replies, not a visitor's.
    # `messages` last: its catch-all handler would take commands and button presses.
    dp.include_routers(operators.router, commands.router, ratings.router, messages.router)
    return dp
