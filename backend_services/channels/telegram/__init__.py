"""Telegram bots: the dashboard's use cases and what the fleet (`bot_fleet`) needs, in
pure async Python (no aiogram).

- `bots`: add, list, stop/start, restart, mode, assistant, token, delete (admin only,
  walled by workspace) and what the fleet reads (`fleet_bots`, `fleet_bot`,
  `verify_webhook_secret`: the only places a token is decrypted).
- `api`: the token check (`getMe`) and token redaction for logs.
- `status`: what the fleet reports about each bot (Redis), and messages per day.
- `events`: `FleetChanged`, published after every commit on pub/sub and the `fleet` stream.
- `updates`: updates Telegram POSTs to the web app (webhook mode), handed to the fleet.
- `outbox`: operator and system messages, queued from the dialog stream, claimed in order
  per chat with a lease, delivered at least once with a duplicate window of one part.
- `limiter`: per chat, per group and per bot limits and the 429 pause, atomic across workers.
- `text`: `split_for_telegram` and `escape_html`. `stats`: fleet figures for /metrics.
"""
