"""Dialogs page: search and filter every conversation of the workspace."""

from __future__ import annotations

from typing import Any

import reflex as rx

from backend_services.conversations import dialogs
from backend_services.conversations.dialogs import DialogFilter
from backend_services.core.dates import parse_day
from backend_services.core.principal import Principal
from backend_services.models import Role
from state.arguments import id_from_text
from state.assistant_scoped import assistant_choices
from state.session import SessionState, guarded

PAGE = 50


class DialogsState(SessionState):
    rows: rx.Field[list[dict[str, Any]]] = rx.field(default_factory=list)
    assistant_options: rx.Field[list[dict[str, str]]] = rx.field(default_factory=list)
    loaded: rx.Field[bool] = rx.field(False)
    more: rx.Field[bool] = rx.field(False)
    _filters: dict[str, Any] = {}
    _offset: int = 0

    @guarded(Role.OPERATOR)
    async def load(self, *, principal: Principal) -> None:
        if principal.has_role(Role.ADMIN):
            self.assistant_options = await assistant_choices(principal)
        await self._run(principal, {}, reset=True)

    async def _run(self, principal: Principal, form: dict[str, Any], *, reset: bool) -> None:
        if reset:
            self._filters, self._offset, self.rows = dict(form), 0, []
        f = self._filters
        assistant = str(f.get("assistant", "") or "")
        found = await dialogs.search(principal, DialogFilter(
            scope="all",
            status=str(f.get("status") or "") or None if f.get("status") != "any" else None,
            channel_kind=(str(f.get("channel") or "") or None
                          if f.get("channel") != "any" else None),
            assistant_id=id_from_text(assistant) or None,
            date_from=parse_day(f.get("date_from"), "from"),
            date_to=parse_day(f.get("date_to"), "to"),
            text=str(f.get("text", "")),
        ), limit=PAGE + 1, offset=self._offset)
        self.more = len(found) > PAGE
        self.rows = self.rows + [{
            "id": d.id, "status": d.status, "channel": d.channel_kind,
            "assistant": d.assistant_name, "contact": d.contact_name or f"Visitor #{d.contact_id}",
            "preview": d.last_message_preview, "operator": d.assigned_user_name,
            "rating": d.rating or 0, "created": d.created_at.strftime("%Y-%m-%d %H:%M"),
        } for d in found[:PAGE]]
        self._offset += PAGE
        self.loaded = True

    @guarded(Role.OPERATOR)
    async def search(self, form: dict[str, Any], *, principal: Principal) -> None:
        await self._run(principal, form, reset=True)

    @guarded(Role.OPERATOR)
    async def load_more(self, *, principal: Principal) -> None:
        await self._run(principal, {}, reset=False)
