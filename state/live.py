"""Shared live states: one per dialog, one per dialog's notes, one per workspace inbox.

Linked tokens: `dlg-<id>` (the visitor and every operator watching), `dlgn-<id>` (notes,
operators only) and `inbox-<workspace id>`. Link only after the caller has been checked.

These states carry no event handlers: a crafted socket message can only reach handlers,
and the states' vars are written solely by `refresh_*` below (server side, from the
database) and by the AI stream. Every refresh replaces the whole tail with a snapshot
from PostgreSQL, so deltas that arrive out of order across web workers converge on what
the database holds; `version` (the newest message id) lets a client see which it shows.

Locks: an event holds the lock of each linked shared state from the moment it first
touches it until it ends, so two clients touching the same two states in opposite orders
wait for each other until the locks expire (10 s). Every handler touches them in
LOCK_ORDER, and no handler calls `app.modify_state` on a token its client is linked to.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import reflex as rx

from backend_services.conversations import snapshots
from backend_services.conversations.views import DialogView, MessageView

log = logging.getLogger(__name__)

_app: Any = None


def set_app(app: Any) -> None:
    """Called once per web worker by the lifespan task; refreshes need the app."""
    global _app
    _app = app


@dataclasses.dataclass
class SourceItem:
    title: str = ""
    passage: str = ""


@dataclasses.dataclass
class MessageItem:
    id: int = 0
    sender: str = ""
    author: str = ""
    content: str = ""
    time: str = ""
    sources: list[SourceItem] = dataclasses.field(default_factory=list)
    confidence: str = ""
    low: bool = False


@dataclasses.dataclass
class DialogItem:
    id: int = 0
    status: str = ""
    assistant: str = ""
    channel: str = ""
    contact: str = ""
    assigned_user_id: int = 0
    assigned_name: str = ""
    preview: str = ""
    last_message_id: int = 0
    waiting_since: str = ""  # ISO time the visitor asked for a human ("" if not waiting)
    updated: str = ""


def message_item(m: MessageView) -> MessageItem:
    return MessageItem(
        id=m.id,
        sender=m.sender,
        author=m.author_name,
        content=m.content,
        time=m.created_at.isoformat() if m.created_at else "",
        sources=[SourceItem(str(s.get("title", "")), str(s.get("passage", ""))[:600])
                 for s in m.sources],
        confidence="" if m.confidence is None else f"{round(m.confidence * 100)}%",
        low=m.confidence is not None and m.confidence < 0.25,
    )


def dialog_item(d: DialogView) -> DialogItem:
    return DialogItem(
        id=d.id,
        status=d.status,
        assistant=d.assistant_name,
        # A conversation continued by e-mail shows as such in the queue and the details.
        channel=f"{d.channel_kind} · e-mail" if d.email_thread else d.channel_kind,
        contact=d.contact_name or f"Visitor #{d.contact_id}",
        assigned_user_id=d.assigned_user_id or 0,
        assigned_name=d.assigned_user_name,
        preview=d.last_message_preview,
        last_message_id=d.last_message_id or 0,
        waiting_since=(d.handoff_requested_at.isoformat()
                       if d.status == "requested" and d.handoff_requested_at else ""),
        updated=(d.updated_at or d.created_at).isoformat(),
    )


class DialogLive(rx.SharedState):
    """One conversation as its visitor and operators see it (never notes)."""

    dialog_id: rx.Field[int] = rx.field(0)
    status: rx.Field[str] = rx.field("")
    assigned_name: rx.Field[str] = rx.field("")
    awaiting_contact: rx.Field[bool] = rx.field(False)
    rating: rx.Field[int] = rx.field(0)
    version: rx.Field[int] = rx.field(0)
    messages: rx.Field[list[MessageItem]] = rx.field(default_factory=list)
    streaming: rx.Field[str] = rx.field("")  # the AI answer while it is being written
    ai_typing: rx.Field[bool] = rx.field(False)
    # the name of the operator whose reply box has focus
    operator_typing: rx.Field[str] = rx.field("")
    visitor_typing: rx.Field[bool] = rx.field(False)


class DialogNotesLive(rx.SharedState):
    """Internal notes of one conversation: linked by operators only."""

    notes: rx.Field[list[MessageItem]] = rx.field(default_factory=list)


class InboxLive(rx.SharedState):
    """The open conversations of one workspace; each console filters its own view."""

    dialogs: rx.Field[list[DialogItem]] = rx.field(default_factory=list)
    version: rx.Field[int] = rx.field(0)

    @rx.var
    def queue_count(self) -> int:
        return sum(1 for d in self.dialogs if d.status == "requested")


LOCK_ORDER = ("InboxLive", "DialogLive", "DialogNotesLive")


# The link token of each shared state ("dlg-<dialog id>", "dlgn-<dialog id>",
# "inbox-<workspace id>"); no "_" in link tokens.
_TOKEN_PREFIX = {"DialogLive": "dlg", "DialogNotesLive": "dlgn", "InboxLive": "inbox"}


def link_token(shared: type[rx.State], ident: int) -> str:
    return f"{_TOKEN_PREFIX[shared.__name__]}-{ident}"


def apply_dialog(state: DialogLive, snap: snapshots.DialogSnapshot) -> None:
    d = snap.dialog
    same_dialog = state.dialog_id == d.id
    state.dialog_id = d.id
    state.status = d.status
    state.assigned_name = d.assigned_user_name
    state.awaiting_contact = d.awaiting_contact
    state.rating = d.rating or 0
    newest = snap.messages[-1].id if snap.messages else 0
    # Snapshots are read before the state's lock is taken, so one read earlier may land
    # after a newer one (or after a merged message): never step back to an older tail.
    stale = same_dialog and newest < state.version
    if not stale and (newest != state.version or len(snap.messages) != len(state.messages)):
        state.messages = [message_item(m) for m in snap.messages]
        state.version = newest
    if snap.messages and snap.messages[-1].sender == "ai":
        state.streaming, state.ai_typing = "", False
    if d.status != "active":
        state.operator_typing = ""


def merge_messages(state: DialogLive, views: list[MessageView]) -> None:
    """Add messages this process just stored to the tail, in id order, without re-reading
    the dialog: the sender sees its message at once and the viewers get one small delta.
    Merging by id makes the order of merges and snapshots irrelevant."""
    by_id = {m.id: m for m in state.messages}
    for view in views:
        by_id[view.id] = message_item(view)
    tail = [by_id[i] for i in sorted(by_id)][-snapshots.PUBLIC_TAIL:]
    state.messages = tail
    state.version = tail[-1].id if tail else 0


def apply_notes(state: DialogNotesLive, snap: snapshots.DialogSnapshot) -> None:
    state.notes = [message_item(m) for m in snap.notes]


def apply_inbox(state: InboxLive, dialogs: list[DialogView]) -> None:
    state.dialogs = [dialog_item(d) for d in dialogs]
    state.version += 1


def _modify(token: str, cls: type[rx.State]) -> Any:
    return _app.modify_state(rx.BaseStateToken(ident=token, cls=cls))


def _modify_linked(cls: type[rx.State], ident: int) -> Any:
    return _modify(link_token(cls, ident), cls)


async def refresh_linked(state: rx.State, dialog_id: int, *, notes: bool = False,
                         inbox: bool = False) -> int | None:
    """Reload a dialog into the shared states *this client's event* holds linked.

    Inside an event handler the client's linked states are locked by that event, so they
    are written through the event's own state tree (Reflex fans the change out to every
    other linked client); `app.modify_state` on the same token would wait for the lock the
    handler itself holds. Returns the dialog's workspace id (None: gone).
    """
    snap = await snapshots.dialog_snapshot(dialog_id)
    if snap is None:
        return None
    if inbox:  # lock order: inbox, dialog, notes (see LOCK_ORDER)
        apply_inbox(await state.get_state(InboxLive),
                    await snapshots.inbox_snapshot(snap.dialog.workspace_id))
    live = await state.get_state(DialogLive)
    if live.dialog_id == dialog_id:
        apply_dialog(live, snap)
    if notes:
        apply_notes(await state.get_state(DialogNotesLive), snap)
    return snap.dialog.workspace_id


async def refresh_dialog(dialog_id: int, *, notes: bool = True) -> int | None:
    """Reload one dialog into its shared states from outside any client's event (the
    stream consumer, a background task); returns its workspace id (None: gone). `notes`
    False leaves the operators' notes state alone (only a note changes it)."""
    if _app is None:
        return None
    snap = await snapshots.dialog_snapshot(dialog_id)
    if snap is None:
        return None
    async with _modify_linked(DialogLive, dialog_id) as root:
        apply_dialog(await root.get_state(DialogLive), snap)
    if notes:
        async with _modify_linked(DialogNotesLive, dialog_id) as root:
            apply_notes(await root.get_state(DialogNotesLive), snap)
    return snap.dialog.workspace_id


async def show_stored_answer(dialog_id: int, message: MessageView) -> None:
    """The AI's stored answer replaces its streamed text, in one delta and without
    re-reading the dialog (the stream consumer's refresh reconciles whatever else
    changed)."""
    if _app is None:
        return
    async with _modify_linked(DialogLive, dialog_id) as root:
        state = await root.get_state(DialogLive)
        if state.dialog_id == dialog_id:
            merge_messages(state, [message])
        state.streaming, state.ai_typing = "", False


async def refresh_inbox(workspace_id: int) -> None:
    if _app is None:
        return
    dialogs = await snapshots.inbox_snapshot(workspace_id)
    async with _modify_linked(InboxLive, workspace_id) as root:
        apply_inbox(await root.get_state(InboxLive), dialogs)


async def show_streaming(dialog_id: int, text: str, *, typing: bool = True) -> None:
    """The AI's partial answer, seen by the visitor and any operator watching."""
    if _app is None:
        return
    async with _modify_linked(DialogLive, dialog_id) as root:
        state = await root.get_state(DialogLive)
        state.streaming, state.ai_typing = text, typing


async def show_notice(client_token: str, state_cls: type[rx.State], notice: str) -> None:
    """Set `notice` on one client's own state from outside its events (an answer task);
    only ever called with the token of the client the task works for."""
    if _app is None:
        return
    async with _modify(client_token, state_cls) as root:
        state = await root.get_state(state_cls)
        state.notice = notice  # type: ignore[attr-defined]
