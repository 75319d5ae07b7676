"""Webhooks page: the workspace's endpoints, their delivery log, test events (admins)."""

from __future__ import annotations

from typing import Any

import reflex as rx

from backend_services.core.principal import Principal
from backend_services.integrations import webhooks
from backend_services.models import Role
from state.reflex_typing import event
from state.session import SessionState, guarded

_WHEN = "%Y-%m-%d %H:%M:%S"


class WebhooksState(SessionState):
    loaded: rx.Field[bool] = rx.field(False)
    endpoints: rx.Field[list[dict[str, Any]]] = rx.field(default_factory=list)
    # The endpoint whose log is shown (0: none) and its newest deliveries.
    log_of: rx.Field[int] = rx.field(0)
    log: rx.Field[list[dict[str, Any]]] = rx.field(default_factory=list)
    # A signing secret just made, shown once; cleared when its dialog closes.
    new_secret: rx.Field[str] = rx.field("")

    async def _reload(self, principal: Principal) -> None:
        self.endpoints = [
            {"id": e.id, "url": e.url, "description": e.description,
             "events": ", ".join(e.events), "active": e.is_active,
             "summary": f"{e.delivered_24h} delivered in 24 h · {e.failing} failing"}
            for e in await webhooks.list_endpoints(principal)]
        if self.log_of and self.log_of not in {e["id"] for e in self.endpoints}:
            self.log_of, self.log = 0, []
        if self.log_of:
            await self._show_log(principal, self.log_of)
        self.loaded = True

    async def _show_log(self, principal: Principal, endpoint_id: int) -> None:
        self.log = [
            {"id": d.id, "event": d.event_type, "status": d.status, "attempts": d.attempts,
             "code": "" if d.last_status_code is None else str(d.last_status_code),
             "answer": d.last_error or d.last_response, "at": d.created_at.strftime(_WHEN),
             "next": d.next_attempt_at.strftime(_WHEN) if d.status == "pending" else "",
             "retry": d.status != "delivered"}
            for d in await webhooks.deliveries(principal, endpoint_id)]
        self.log_of = endpoint_id

    @guarded(Role.ADMIN)
    async def load(self, *, principal: Principal) -> None:
        self.new_secret = ""
        await self._reload(principal)

    @guarded(Role.ADMIN)
    async def create(self, form: dict[str, Any], *, principal: Principal) -> None:
        chosen = [e for e in webhooks.EVENTS if form.get(f"event_{e}") in ("on", True)]
        view, secret = await webhooks.create_endpoint(
            principal, str(form.get("url", "")), chosen, str(form.get("description", "")))
        self.new_secret = secret
        self.log_of = view.id
        await self._reload(principal)

    @event
    def forget_secret(self, _open: bool = False) -> None:
        self.new_secret = ""

    @guarded(Role.ADMIN)
    async def show_log(self, endpoint_id: int, *, principal: Principal) -> None:
        await self._show_log(principal, int(endpoint_id))

    @guarded(Role.ADMIN)
    async def set_active(self, endpoint_id: int, active: bool, *,
                         principal: Principal) -> None:
        found = [e for e in await webhooks.list_endpoints(principal) if e.id == int(endpoint_id)]
        events = found[0].events if found else []
        await webhooks.update_endpoint(principal, int(endpoint_id), events=events,
                                       is_active=bool(active))
        await self._reload(principal)

    @guarded(Role.ADMIN)
    async def send_test(self, endpoint_id: int, *, principal: Principal) -> Any:
        await webhooks.send_test_event(principal, int(endpoint_id))
        await self._show_log(principal, int(endpoint_id))
        return rx.toast.success("Test event queued: it goes out within a few seconds.")

    @guarded(Role.ADMIN)
    async def refresh_log(self, *, principal: Principal) -> None:
        await self._reload(principal)

    @guarded(Role.ADMIN)
    async def retry(self, delivery_id: int, *, principal: Principal) -> Any:
        await webhooks.retry_delivery(principal, int(delivery_id))
        await self._reload(principal)
        return rx.toast.success("Queued to be sent again.")

    @guarded(Role.ADMIN)
    async def rotate(self, endpoint_id: int, *, principal: Principal) -> None:
        self.new_secret = await webhooks.rotate_secret(principal, int(endpoint_id))

    @guarded(Role.ADMIN)
    async def delete(self, endpoint_id: int, *, principal: Principal) -> Any:
        await webhooks.delete_endpoint(principal, int(endpoint_id))
        await self._reload(principal)
        return rx.toast.success("Webhook deleted.")
