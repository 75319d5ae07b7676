"""Channels of a workspace: today, Telegram bots.

- `telegram_bots`: the dashboard's use cases (add, list, stop/start, restart, mode,
  assistant, token, delete; admin only, walled by workspace) and what the fleet reads
  (`fleet_bots`, `fleet_bot`, `verify_webhook_secret`: the only places a token is
  decrypted).
- `status`: what the fleet reports about each bot (Redis), and messages per day.
- `events`: `FleetChanged`, published after every commit on pub/sub and the `fleet` stream.
- `telegram_api`: the token check (`getMe`) and token redaction for logs.
"""

from backend_services.channels.events import FLEET_STREAM, FleetChanged, publish_fleet_changed
from backend_services.channels.status import (
    BotStatus,
    StatusReport,
    record_activity,
    report_status,
    report_statuses,
    statuses,
)
from backend_services.channels.telegram_bots import (
    BotView,
    FleetBot,
    add_bot,
    change_assistant,
    delete_bot,
    fleet_bot,
    fleet_bots,
    get_bot,
    list_bots,
    replace_token,
    restart,
    set_desired,
    set_mode,
    verify_webhook_secret,
    webhook_url,
)

__all__ = [
    "FLEET_STREAM",
    "BotStatus",
    "BotView",
    "FleetBot",
    "FleetChanged",
    "StatusReport",
    "add_bot",
    "change_assistant",
    "delete_bot",
    "fleet_bot",
    "fleet_bots",
    "get_bot",
    "list_bots",
    "publish_fleet_changed",
    "record_activity",
    "replace_token",
    "report_status",
    "report_statuses",
    "restart",
    "set_desired",
    "set_mode",
    "statuses",
    "verify_webhook_secret",
    "webhook_url",
]
