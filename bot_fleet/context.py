"""What a worker knows about one running bot, passed to every handler."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BotContext:
    channel_id: int
    workspace_id: int
    assistant_id: int
    bot_id: int
    username: str
    mode: str  # polling | webhook
    version: int
