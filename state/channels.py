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
from state.reflex_typing import event
from state.rows import picked
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
    return picked(
        b, "id", "username", "name", "link", "assistant_name", "mode", "status", "error",
        "messages_today",
        assistant_id=str(b.assistant_id),
        running=b.desired == "running",
        status_label=STATUS_LABEL.get(b.status, b.status),
        last_activity=b.last_activity.isoformat() if b.last_activity else "",
    )


class ChannelsState(SessionState):
    bots: rx.Field[list[dict[str, Any]]] = rx.field(default_factory=list)
    assistant_options: rx.Field[list[dict[str, str]]] = rx.field(default_factory=list)
    loaded: rx.Field[bool] = rx.field(False)
    adding: rx.Field[bool] = rx.field(False)
    form_error: rx.Field[str] = rx.field("")
    new_assistant_id: rx.Field[str] = rx.field("")
    new_mode: rx.Field[str] = rx.field("polling")
    confirm_delete_id: rx.Field[int] = rx.field(0)
    confirm_delete_name: rx.Field[str] = rx.field("")
    token_dialog_id: rx.Field[int] = rx.field(0)
    token_dialog_name: rx.Field[str] = rx.field("")
    token_error: rx.Field[str] = rx.field("")

    async def _reload(self, principal: Principal) -> None:
        self.bots = [_row(b) for b in await bots.list_bots(principal)]

    @guarded(Role.ADMIN)
    async def load(self, *, principal: Principal) -> None:
        self.assistant_options = await assistant_choices(principal)
        ids = [o["id"] for o in self.assistant_options]
        if self.new_assistant_id not in ids:
            self.new_assistant_id = ids[0] if ids else ""
        self.form_error = ""
        await self._reload(principal)
        self.loaded = True

    @guarded(Role.ADMIN)
    async def refresh(self, *, principal: Principal) -> None:
        """Called every few seconds by the page: statuses come from the fleet."""
        await self._reload(principal)

    @event
    def set_new_assistant(self, value: str) -> None:
        self.new_assistant_id = value

    @event
    def set_new_mode(self, value: str | list[str]) -> None:
        self.new_mode = value if isinstance(value, str) and value in bots.MODES else "polling"

    @event
    def mark_adding(self) -> None:
        """The submit button's click, just before the form's submit: show "Checking…"."""
        self.adding = True
        self.form_error = ""

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

    @guarded(Role.ADMIN)
    async def set_running(self, channel_id: int, running: bool, *, principal: Principal) -> Any:
        view = await bots.set_desired(principal, int(channel_id),
                                      "running" if running else "stopped")
        await self._reload(principal)
        return rx.toast.success(f"@{view.username} will {'start' if running else 'stop'} "
                                "in a few seconds.")

    @guarded(Role.ADMIN)
    async def restart(self, channel_id: int, *, principal: Principal) -> Any:
        view = await bots.restart(principal, int(channel_id))
        await self._reload(principal)
        return rx.toast.success(f"Restarting @{view.username}.")

    @guarded(Role.ADMIN)
    async def change_mode(self, channel_id: int, mode: str, *, principal: Principal) -> Any:
        view = await bots.set_mode(principal, int(channel_id), str(mode))
        await self._reload(principal)
        return rx.toast.success(f"@{view.username} now uses {MODE_LABEL[view.mode].lower()}.")

    @guarded(Role.ADMIN)
    async def change_assistant(
        self, channel_id: int, assistant_id: str, *, principal: Principal
    ) -> Any:
        if not id_from_text(assistant_id):
            raise NotFound("Assistant not found.")
        view = await bots.change_assistant(principal, int(channel_id), id_from_text(assistant_id))
        await self._reload(principal)
        return rx.toast.success(f"@{view.username} now answers as “{view.assistant_name}”.")

    @event
    def ask_delete(self, channel_id: int, username: str) -> None:
        self.confirm_delete_id, self.confirm_delete_name = int(channel_id), str(username)

    @event
    def cancel_delete(self) -> None:
        self.confirm_delete_id, self.confirm_delete_name = 0, ""

    @guarded(Role.ADMIN)
    async def delete(self, channel_id: int, *, principal: Principal) -> Any:
        self.confirm_delete_id, self.confirm_delete_name = 0, ""
        await bots.delete_bot(principal, int(channel_id))
        await self._reload(principal)
        return rx.toast.success("Bot disconnected. Its conversations are kept.")

    @event
    def open_token_dialog(self, channel_id: int, username: str) -> None:
        self.token_dialog_id, self.token_dialog_name = int(channel_id), str(username)
        self.token_error = ""

    @event
    def close_token_dialog(self) -> None:
        self.token_dialog_id, self.token_dialog_name, self.token_error = 0, "", ""

    @event
    def set_token_dialog_open(self, value: bool) -> None:
        if not value:
            self.token_dialog_id, self.token_dialog_name, self.token_error = 0, "", ""

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
