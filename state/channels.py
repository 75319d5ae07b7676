"""Channels page: connect Telegram bots, watch what the fleet does with them, control them.

Thin: every handler that reads or changes anything is guarded (admin) and calls
backend_services.channels, which re-checks the role and the workspace. A pasted token
goes straight from the submitted form to the service and is never kept in state. The
page refreshes the table every few seconds (`refresh`) so what the fleet reports shows up
without a reload.
"""

from __future__ import annotations

from typing import Any

import reflex as rx

from backend_services.channels.telegram import bots
from backend_services.channels.telegram.bots import BotView
from backend_services.core.errors import Conflict, NotFound, RateLimited, ValidationFailed
from backend_services.core.principal import Principal
from backend_services.models import Role
from state.arguments import id_from_text
from state.assistant_scoped import assistant_choices
from state.session import SessionState, guarded

STATUS_LABEL = {
    "running": "running",
    "starting": "starting…",
    "stopping": "stopping…",
    "stopped": "stopped",
    "error": "error",
    "offline": "fleet offline",
}
MODE_LABEL = {"polling": "Long polling", "webhook": "Webhook"}
# What a form submission may fail with, shown next to the form rather than as a toast.
_FORM_ERRORS = (ValidationFailed, Conflict, NotFound, RateLimited)


def _row(b: BotView) -> dict[str, Any]:
    return {
        "id": b.id,
        "username": b.username,
        "name": b.name,
        "link": b.link,
        "assistant_id": str(b.assistant_id),
        "assistant_name": b.assistant_name,
        "mode": b.mode,
        "running": b.desired == "running",
        "status": b.status,
        "status_label": STATUS_LABEL.get(b.status, b.status),
        "error": b.error,
        "last_activity": b.last_activity.isoformat() if b.last_activity else "",
        "messages_today": b.messages_today,
    }


class ChannelsState(SessionState):
    bots: list[dict[str, Any]] = []
    assistant_options: list[dict[str, str]] = []
    loaded: bool = False
    adding: bool = False
    form_error: str = ""
    new_assistant_id: str = ""
    new_mode: str = "polling"
    confirm_delete_id: int = 0
    confirm_delete_name: str = ""
    token_dialog_id: int = 0
    token_dialog_name: str = ""
    token_error: str = ""

    async def _reload(self, principal: Principal) -> None:
        self.bots = [_row(b) for b in await bots.list_bots(principal)]

    @rx.event
    @guarded(Role.ADMIN)
    async def load(self, *, principal: Principal) -> None:
        self.assistant_options = await assistant_choices(principal)
        ids = [o["id"] for o in self.assistant_options]
        if self.new_assistant_id not in ids:
            self.new_assistant_id = ids[0] if ids else ""
        self.form_error = ""
        await self._reload(principal)
        self.loaded = True

    @rx.event
    @guarded(Role.ADMIN)
    async def refresh(self, *, principal: Principal) -> None:
        """Called every few seconds by the page: statuses come from the fleet."""
        await self._reload(principal)

    @rx.event
    def set_new_assistant(self, value: str) -> None:
        self.new_assistant_id = value

    @rx.event
    def set_new_mode(self, value: str | list[str]) -> None:
        self.new_mode = value if isinstance(value, str) and value in bots.MODES else "polling"

    @rx.event
    def mark_adding(self) -> None:
        """The submit button's click, just before the form's submit: show "Checking…"."""
        self.adding = True
        self.form_error = ""

    @rx.event
    @guarded(Role.ADMIN)
    async def add(self, form: dict[str, Any], *, principal: Principal) -> Any:
        self.form_error = ""
        try:
            if not id_from_text(self.new_assistant_id):
                raise ValidationFailed("Create an assistant first: a bot answers as one of them.")
            view = await bots.add_bot(principal, id_from_text(self.new_assistant_id),
                                      str(form.get("token", "")), mode=self.new_mode)
        except _FORM_ERRORS as exc:
            self.form_error = exc.message
            return None
        finally:
            self.adding = False
        await self._reload(principal)
        return [rx.set_value("bot-token", ""),
                rx.toast.success(f"Connected @{view.username}. It starts in a few seconds.")]

    @rx.event
    @guarded(Role.ADMIN)
    async def set_running(self, channel_id: int, running: bool, *, principal: Principal) -> Any:
        view = await bots.set_desired(principal, int(channel_id),
                                      "running" if running else "stopped")
        await self._reload(principal)
        return rx.toast.success(f"@{view.username} will {'start' if running else 'stop'} "
                                "in a few seconds.")

    @rx.event
    @guarded(Role.ADMIN)
    async def restart(self, channel_id: int, *, principal: Principal) -> Any:
        view = await bots.restart(principal, int(channel_id))
        await self._reload(principal)
        return rx.toast.success(f"Restarting @{view.username}.")

    @rx.event
    @guarded(Role.ADMIN)
    async def change_mode(self, channel_id: int, mode: str, *, principal: Principal) -> Any:
        view = await bots.set_mode(principal, int(channel_id), str(mode))
        await self._reload(principal)
        return rx.toast.success(f"@{view.username} now uses {MODE_LABEL[view.mode].lower()}.")

    @rx.event
    @guarded(Role.ADMIN)
    async def change_assistant(
        self, channel_id: int, assistant_id: str, *, principal: Principal
    ) -> Any:
        if not id_from_text(assistant_id):
            raise NotFound("Assistant not found.")
        view = await bots.change_assistant(principal, int(channel_id), id_from_text(assistant_id))
        await self._reload(principal)
        return rx.toast.success(f"@{view.username} now answers as “{view.assistant_name}”.")

    @rx.event
    def ask_delete(self, channel_id: int, username: str) -> None:
        self.confirm_delete_id, self.confirm_delete_name = int(channel_id), str(username)

    @rx.event
    def cancel_delete(self) -> None:
        self.confirm_delete_id, self.confirm_delete_name = 0, ""

    @rx.event
    @guarded(Role.ADMIN)
    async def delete(self, channel_id: int, *, principal: Principal) -> Any:
        self.confirm_delete_id, self.confirm_delete_name = 0, ""
        await bots.delete_bot(principal, int(channel_id))
        await self._reload(principal)
        return rx.toast.success("Bot disconnected. Its conversations are kept.")

    @rx.event
    def open_token_dialog(self, channel_id: int, username: str) -> None:
        self.token_dialog_id, self.token_dialog_name = int(channel_id), str(username)
        self.token_error = ""

    @rx.event
    def close_token_dialog(self) -> None:
        self.token_dialog_id, self.token_dialog_name, self.token_error = 0, "", ""

    @rx.event
    def set_token_dialog_open(self, value: bool) -> None:
        if not value:
            self.token_dialog_id, self.token_dialog_name, self.token_error = 0, "", ""

    @rx.event
    @guarded(Role.ADMIN)
    async def replace_token(self, form: dict[str, Any], *, principal: Principal) -> Any:
        self.token_error = ""
        try:
            view = await bots.replace_token(principal, self.token_dialog_id,
                                            str(form.get("token", "")))
        except _FORM_ERRORS as exc:
            self.token_error = exc.message
            return None
        self.token_dialog_id, self.token_dialog_name = 0, ""
        await self._reload(principal)
        return rx.toast.success(f"New token saved for @{view.username}; restarting it.")
