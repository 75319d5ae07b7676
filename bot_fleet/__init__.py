"""The Telegram bot fleet: a supervised process of N workers (aiogram 3).

- `supervisor`: starts the workers, restarts a dead one with backoff, the heartbeat.
- `worker`: one shard of the bots; owns the services below and hands them on.
- `runner`: one bot's polling loop (confirm only what is handled; outages pause it).
- `dispatcher` + `routers/`: the aiogram routers, one per concern.
- `keyboards`, `contacts`: inline keyboards; the chat as a contact and the bot's voice.
- `delivery`, `sender`: what goes out, through the durable outbox or directly.
- `registry`, `context`, `stats`: the channels service as the fleet sees it, one bot's
  identity, the worker's counters.
"""
