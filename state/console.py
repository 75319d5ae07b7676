"""The operator console: presence, the live inbox, one open conversation, its actions.

Every handler is guarded (a crafted socket message reaches handlers directly) and acts
only through services that scope by the principal's workspace; a dialog id from the
browser is only ever a request to look, answered by `dialogs.get_dialog`, which refuses
another workspace's dialog. Shared states are linked only after that check.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import reflex as rx

from backend_services.analytics.formatting import duration
from backend_services.conversations import canned, dialogs, handoff, presence, snapshots
from backend_services.conversations.handoff import AlreadyTaken
from backend_services.conversations.views import DialogView
from backend_services.core.errors import DomainError
from backend_services.core.principal import Principal
from backend_services.identity import team
from backend_services.models import Role
from state.arguments import id_from_text
from state.live import (
    DialogLive,
    DialogNotesLive,
    InboxLive,
    apply_dialog,
    apply_inbox,
    apply_notes,
    link_token,
    refresh_linked,
)
from state.live_access import link_staff
from state.reflex_typing import ObjectField, event, object_field
from state.session import SessionState, fail, guarded

PRESENCE = ("online", "away", "offline")


class ConsoleState(SessionState):
    my_user_id: rx.Field[int] = rx.field(0)
    presence: rx.Field[str] = rx.field("offline")
    tab: rx.Field[str] = rx.field("queue")  # queue | mine | all
    selected_id: rx.Field[int] = rx.field(0)
    # details of the open conversation (for this operator: unread, SLA)
    contact_email: rx.Field[str] = rx.field("")
    channel: rx.Field[str] = rx.field("")
    assistant: rx.Field[str] = rx.field("")
    handoff_reason: rx.Field[str] = rx.field("")
    first_reply_seconds: rx.Field[int] = rx.field(-1)
    transitions: rx.Field[list[dict[str, str]]] = rx.field(default_factory=list)
    mode: rx.Field[str] = rx.field("reply")  # reply | note
    teammates: rx.Field[list[dict[str, Any]]] = rx.field(default_factory=list)
    canned: rx.Field[list[dict[str, str]]] = rx.field(default_factory=list)
    # dialog id -> newest message id this operator has seen
    seen: ObjectField[dict[str, int]] = object_field(dict)
    taken_by: rx.Field[str] = rx.field("")  # shown when another operator won the race
    sla_today: rx.Field[str] = rx.field("")  # median time to first human reply over the last 24 h

    # ------------------------------------------------------------------ console
    @guarded(Role.OPERATOR)
    async def load(self, *, principal: Principal) -> None:
        self.my_user_id = principal.user_id
        inbox_token = link_token(InboxLive, principal.workspace_id)
        inbox = await link_staff(self, InboxLive, inbox_token, principal)
        apply_inbox(inbox, await snapshots.inbox_snapshot(principal.workspace_id))
        # Coming back keeps what the operator chose ("away" stays away); otherwise online.
        previous = (await presence.statuses(principal.workspace_id)).get(principal.user_id)
        self.presence = previous if previous in ("online", "away") else "online"
        await presence.set_status(principal, self.presence)
        await self._refresh_team(principal)
        self.canned = await _canned(principal)
        wanted = self.router.url.query_parameters.get("d", "")  # /console?d=<id>
        if id_from_text(wanted):
            self.selected_id = id_from_text(wanted)
        if self.selected_id:
            try:
                await self._show_dialog(principal, self.selected_id)
            except DomainError:
                self.selected_id = 0
                raise

    @guarded(Role.OPERATOR)
    async def heartbeat(self, _: Any = None, *, principal: Principal) -> None:
        """Sent by the page every few seconds; a closed tab stops sending and goes offline."""
        if self.presence != "offline" and await presence.heartbeat(principal) == "offline":
            # The key expired (a long sleep, a Redis restart): the operator still wants it.
            await presence.set_status(principal, self.presence)
        await self._refresh_team(principal)

    async def _refresh_team(self, principal: Principal) -> None:
        """Teammates with their presence (for transfers) and today's SLA figure."""
        online = await presence.statuses(principal.workspace_id)
        self.teammates = [{"id": t.user_id, "name": t.name,
                           "status": online.get(t.user_id, "offline")}
                          for t in await team.list_teammates(principal)
                          if t.user_id != principal.user_id]
        sla = await handoff.sla_summary(principal, datetime.now(UTC) - timedelta(days=1))
        self.sla_today = (
            f"{duration(sla.median_first_reply_seconds)} median first reply · "
            f"{sla.handled} handled (24 h)" if sla.median_first_reply_seconds is not None
            else ""
        )

    @guarded(Role.OPERATOR)
    async def typing(self, active: bool, *, principal: Principal) -> None:
        """The reply box got or lost focus: the visitor sees "<name> is typing…"."""
        live = await self.get_state(DialogLive)
        if not self.selected_id or live.dialog_id != self.selected_id or live.status != "active":
            return
        name = principal.name or principal.email.split("@")[0]
        if bool(active) and self.mode == "reply":
            await dialogs.typing(principal, self.selected_id)  # checks the workspace
            live.operator_typing = name
        elif live.operator_typing == name:
            live.operator_typing = ""

    @guarded(Role.OPERATOR)
    async def set_presence(self, status: str, *, principal: Principal) -> None:
        if status not in PRESENCE:
            return
        await presence.set_status(principal, status)
        self.presence = status

    @event
    def set_tab(self, tab: str | list[str]) -> None:
        if tab in ("queue", "mine", "all"):
            self.tab = str(tab)

    @event
    def set_mode(self, mode: str | list[str]) -> None:
        if mode in ("reply", "note"):
            self.mode = str(mode)

    # ------------------------------------------------------------------ one dialog

    async def _show_dialog(self, principal: Principal, dialog_id: int) -> None:
        # get_dialog refuses other workspaces' dialogs.
        await self._show_view(principal, await dialogs.get_dialog(principal, dialog_id))

    async def _show_view(self, principal: Principal, view: DialogView) -> None:
        await self.get_state(InboxLive)  # lock order (state/live.py): inbox first
        live = await link_staff(self, DialogLive, link_token(DialogLive, view.id), principal)
        notes = await link_staff(self, DialogNotesLive, link_token(DialogNotesLive, view.id),
                                 principal)
        snap = await snapshots.dialog_snapshot(view.id)
        if snap is not None:
            apply_dialog(live, snap)
            apply_notes(notes, snap)
        self.selected_id = view.id
        self.contact_email = view.contact_email
        self.channel = (f"{view.channel_kind} · replies by e-mail to {view.contact_email}"
                        if view.email_thread else view.channel_kind)
        self.assistant = view.assistant_name
        self.handoff_reason = view.handoff_reason
        self.first_reply_seconds = (
            -1 if view.first_reply_seconds is None else view.first_reply_seconds
        )
        self.transitions = [
            {"from": t.from_state, "to": t.to_state, "who": t.actor_name or t.actor,
             "reason": t.reason, "at": t.created_at.isoformat()}
            for t in await handoff.transitions(principal, view.id)
        ]
        if view.last_message_id:
            await dialogs.mark_read(principal, view.id, view.last_message_id)
            self.seen[str(view.id)] = view.last_message_id
        self.taken_by = ""

    @guarded(Role.OPERATOR)
    async def open(self, dialog_id: int, *, principal: Principal) -> None:
        await self._show_dialog(principal, int(dialog_id))

    @guarded(Role.OPERATOR)
    async def mark_seen(self, *, principal: Principal) -> None:
        live = await self.get_state(DialogLive)
        if self.selected_id and live.dialog_id == self.selected_id and live.version:
            await dialogs.mark_read(principal, self.selected_id, live.version)
            self.seen[str(self.selected_id)] = live.version

    async def _after(self, principal: Principal, view: DialogView | None = None) -> None:
        """Show the change at once (the view the verb returned, else a fresh read); the
        stream consumer repeats it for everyone else."""
        if view is not None:
            await self._show_view(principal, view)
        elif self.selected_id:
            await self._show_dialog(principal, self.selected_id)
        apply_inbox(await self.get_state(InboxLive),
                    await snapshots.inbox_snapshot(principal.workspace_id))

    @guarded(Role.OPERATOR)
    async def take(self, *, principal: Principal) -> Any:
        try:
            view = await handoff.accept(principal, self.selected_id)
        except AlreadyTaken as exc:
            await self._after(principal)
            self.taken_by = exc.message  # after _after: showing the dialog clears it
            return fail(exc)
        await self._after(principal, view)
        return None

    @guarded(Role.OPERATOR)
    async def release(self, *, principal: Principal) -> None:
        await self._after(principal, await handoff.release(principal, self.selected_id))

    @guarded(Role.OPERATOR)
    async def close(self, *, principal: Principal) -> None:
        view = await handoff.close(principal, self.selected_id, "closed by the operator")
        await self._after(principal, view)

    @guarded(Role.OPERATOR)
    async def transfer(self, user_id: str, *, principal: Principal) -> None:
        view = await handoff.transfer(principal, self.selected_id, id_from_text(user_id))
        await self._after(principal, view)

    @guarded(Role.OPERATOR)
    async def send(self, form: dict[str, Any], *, principal: Principal) -> Any:
        text = str(form.get("text", "")).strip()
        if not text or not self.selected_id:
            return None
        shortcut = _SHORTCUT_TYPED.fullmatch(text)
        if shortcut is not None:
            # "/thanks" + Enter puts the saved reply in the box to read and send; it never
            # reaches the visitor as "/thanks".
            wanted = shortcut.group(1).lower()
            found = next((c for c in await canned.list_canned(principal)
                          if c.shortcut == wanted), None)
            if found is None:
                return rx.toast.error(f"No canned response is called /{wanted}.")
            return rx.set_value("console-input", found.body)
        client_id = str(form.get("client_id", ""))[:64] or uuid.uuid4().hex
        if self.mode == "note":
            await dialogs.add_note(principal, self.selected_id, text, client_id)
        else:
            await dialogs.operator_reply(principal, self.selected_id, text, client_id)
            view = await dialogs.get_dialog(principal, self.selected_id)
            if view.first_reply_seconds is not None:  # the SLA clock stops at the first reply
                self.first_reply_seconds = view.first_reply_seconds
        await refresh_linked(self, self.selected_id, notes=True, inbox=True)
        live = await self.get_state(DialogLive)
        live.operator_typing = ""
        if live.version:
            self.seen[str(self.selected_id)] = live.version
        return rx.set_value("console-input", "")

    @event
    def use_canned(self, body: str) -> Any:
        return rx.set_value("console-input", body)


_SHORTCUT_TYPED = re.compile(r"/([A-Za-z0-9_-]{1,32})")


async def _canned(principal: Principal) -> list[dict[str, str]]:
    try:
        return [{"shortcut": c.shortcut, "title": c.title, "body": c.body}
                for c in await canned.list_canned(principal)]
    except DomainError:
        return []
