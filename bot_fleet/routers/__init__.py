"""The fleet's aiogram routers, one per concern; `bot_fleet/dispatcher.py` joins them.

- `commands`: /start (the greeting) and /operator (ask for a person).
- `ratings`: the star buttons shown after a conversation is closed.
- `messages`: text questions (answered through the conversation services, like the
  widget's) and anything else (stickers, photos: "text only, please"). Included last: its
  catch-all handler would otherwise take commands.

Handlers get `ctx` (the bot) and `update_id` from the runner's `feed_update`, and the
worker's `delivery` and `stats` from the dispatcher's data: no module globals.
"""
