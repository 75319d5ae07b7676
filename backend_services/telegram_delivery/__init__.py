"""Getting messages to Telegram: the durable outbox, the shared rate limiter, and text
made to fit Telegram's limit. Pure async Python (no aiogram): the fleet (`bot_fleet`)
calls it with the Bot API transport of its choice.

- `outbox`: operator and system messages of Telegram dialogs, queued from the dialog
  stream (and a catch-up sweep), claimed in order per chat with a lease, delivered at
  least once with a duplicate window of one part (see its docstring for the guarantee).
- `limiter`: per chat, per group and per bot limits and the 429 pause, over Redis, atomic
  across worker processes.
- `text`: `split_for_telegram` and `escape_html`.
"""

from backend_services.telegram_delivery.text import (
    TELEGRAM_LIMIT,
    escape_html,
    split_for_telegram,
    utf16_len,
)

__all__ = ["TELEGRAM_LIMIT", "escape_html", "split_for_telegram", "utf16_len"]
