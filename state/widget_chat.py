"""The visitor's side of the widget (the page inside the iframe).

Locking rule: while a handler runs, Reflex holds the locks of every shared state this
client is linked to (its dialog). A handler must never take another shared token's lock
(`app.modify_state` on the inbox, say): an operator's console holds the inbox and then
the dialog, and the two would wait for each other until the locks expire. Inbox updates
come from the dialog stream's consumer (replyx_app/live_updates.py) instead.

The visitor is anonymous: the only credential is the short-lived signed token the loader
put in the iframe's URL fragment. `start` verifies it once and keeps the claims in a
backend-only var (`_claims`: never sent to the browser, not settable by any event), and
every handler rebuilds the visitor's actor from those claims — nothing the browser sends
names a workspace, assistant or dialog. Handlers that act on a dialog use the dialog the
services find for this visitor, never an id from the client.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from typing import Any

import reflex as rx

from backend_services.conversations import dialogs, pending_answers, snapshots, turns
from backend_services.conversations.actors import ContactActor, contact_actor
from backend_services.core import outages
from backend_services.core.errors import DomainError, NotAuthenticated
from backend_services.widget import settings as widget_settings
from backend_services.widget import visitors
from state.live import (
    DialogLive,
    apply_dialog,
    link_token,
    merge_messages,
    refresh_linked,
)
from state.reflex_typing import ObjectField, event, object_field
from state.widget_answers import NoticeTo, answer_gate, notice_for, start_answer
from state.widget_look import WidgetLook

log = logging.getLogger(__name__)

_CLIENT_ID = re.compile(r"^[A-Za-z0-9-]{8,64}$")
# The loader renews the visitor token before it expires and posts it here; keep it in the
# URL fragment (never sent to a server) so a restart of this chat uses a fresh one. Only
# messages from the embedding page's origin (named in the verified token) are accepted.
TOKEN_LISTENER = (
    "if (!window.__replyxTokenListener) { window.__replyxTokenListener = true;"
    " window.addEventListener('message', function (e) {"
    " if (e.origin !== window.__replyxHost || !e.data || e.data.type !== 'replyx:token'"
    " || typeof e.data.token !== 'string') return;"
    " history.replaceState(null, '', location.pathname + location.search + '#t='"
    " + encodeURIComponent(e.data.token)); }); }"
)
# The server answered a send without storing it: the "still sending…" note goes away and
# the text stays (replyx_app/pages/widget_chat.py, CLIENT_ID_SCRIPT).
_SETTLED = rx.call_script("window.__replyxSettled && window.__replyxSettled()")


def _new_client_id() -> str:
    return uuid.uuid4().hex


class WidgetChatState(WidgetLook, rx.State):
    # visible configuration (nothing secret), with the look (title, greeting…) of WidgetLook
    ready: rx.Field[bool] = rx.field(False)
    error: rx.Field[str] = rx.field("")
    color: rx.Field[str] = rx.field("#4f46e5")
    s: ObjectField[dict[str, str]] = object_field(dict)
    host_origin: rx.Field[str] = rx.field("")  # where postMessage goes; the iframe's embedder
    # conversation
    notice: rx.Field[str] = rx.field("")
    linked: rx.Field[bool] = rx.field(False)
    rated: rx.Field[bool] = rx.field(False)
    contact_sent: rx.Field[bool] = rx.field(False)

    _claims: dict[str, Any] = {}

    # ------------------------------------------------------------------ session

    @event
    def boot(self) -> Any:
        """Read the token from the URL fragment (never sent to the server in a request)."""
        return rx.call_script(
            "(new URLSearchParams(window.location.hash.slice(1))).get('t') || ''",
            callback=WidgetChatState.start,
        )

    @event
    async def start(self, token: str) -> Any:
        try:
            claims = visitors.verify_token(str(token or ""))
        except NotAuthenticated:
            self.error = widget_settings.strings_for(self.language).get(
                "session_expired", "Your chat session has expired. Please reload the page.")
            return None
        wanted = self.router.url.query_parameters.get("w", "")
        config = await widget_settings.public_config(claims.widget_public_id)
        if config is None or config.assistant_id != claims.assistant_id or (
            wanted and wanted != claims.widget_public_id
        ):
            self.error = "This chat is not available."
            return None
        self._claims = {
            "workspace_id": claims.workspace_id,
            "assistant_id": claims.assistant_id,
            "visitor_id": claims.visitor_id,
            "expires": claims.expires_at.timestamp(),
        }
        self._show_look(config)
        self.color = config.primary_color
        self.s = dict(config.strings)
        self.host_origin = claims.origin
        self.error = ""
        try:
            actor = await self._actor()
            current = await dialogs.current_dialog(actor)
        except DomainError as exc:
            self.error = exc.message
            return None
        if current is not None:
            await self._link(current.id)
        self.ready = True
        # Accept token renewals from the embedding page only (checked in TOKEN_LISTENER),
        # then tell it we are ready (it answers with the current token).
        host = _js_str(self.host_origin)
        return rx.call_script(
            f"window.__replyxHost = {host}; {TOKEN_LISTENER}"
            f"window.parent.postMessage({{type: 'replyx:ready'}}, {host});"
        )

    async def _actor(self) -> ContactActor:
        """The visitor, from the verified claims; nothing from the browser."""
        c = self._claims
        if not c:
            raise NotAuthenticated("Your chat session has expired. Please reload the page.")
        return await contact_actor(int(c["workspace_id"]), int(c["assistant_id"]), "widget",
                                   str(c["visitor_id"]))

    async def _link(self, dialog_id: int) -> None:
        live = await self.get_state(DialogLive)
        live = await live._link_to(link_token(DialogLive, dialog_id))
        snap = await snapshots.dialog_snapshot(dialog_id)
        if snap is not None:
            apply_dialog(live, snap)
        self.linked = True

    def _say(self, exc: DomainError) -> None:
        self.notice = notice_for(exc, self.s)

    # ------------------------------------------------------------------ sending

    @event
    async def send(self, form: dict[str, Any]) -> Any:
        text = str(form.get("text", "")).strip()
        client_id = str(form.get("client_id", ""))
        if not text:
            return _SETTLED
        if not _CLIENT_ID.match(client_id):
            client_id = _new_client_id()
        self.notice = ""
        try:
            # Refuse first when this worker is at its answer limit: under overload most
            # messages are refused, and each refusal must cost next to nothing.
            gate = answer_gate()
            gate.check()
            actor = await self._actor()
            # A refused message (too fast, or this worker too busy) is not stored and stays
            # in the box to send again.
            started = await turns.handle_visitor_message(
                actor, text, client_id, ip=self.router.session.client_ip, gate=gate,
                answer_holder=pending_answers.holder_id())
        except NotAuthenticated:
            # The server forgot this chat (idle for long): start again from the newest
            # token the embedding page gave us; the visitor's text stays in the box.
            self.notice = self.s.get("connection_lost", "Reconnecting…")
            return [_SETTLED, WidgetChatState.boot]
        except DomainError as exc:
            self._say(exc)
            return _SETTLED
        except Exception as exc:
            if not outages.is_transient(exc):
                raise
            # PostgreSQL or Redis is down: nothing was stored (or the visitor's resend will
            # find it stored, with the same client id); the text stays in the box.
            log.warning("widget message not taken during an outage: %r", exc)
            self.notice = self.s.get("send_unavailable", "Please send your message again.")
            return _SETTLED
        dialog_id = started.posted.dialog.id
        live = await self.get_state(DialogLive)
        if self.linked and live.dialog_id == dialog_id and started.handoff is None:
            # Already showing this dialog: add the message instead of re-reading the tail.
            merge_messages(live, [started.posted.message])
            live.status = started.posted.dialog.status
        else:
            await self._link(dialog_id)
        (await self.get_state(DialogLive)).visitor_typing = False
        self.rated = False
        if started.ai_should_answer:
            start_answer(actor, dialog_id, started.posted.message.id, dict(self.s),
                         NoticeTo(self.router.session.client_token, WidgetChatState))
        # The box is emptied only if it still holds the text just stored (the visitor may
        # have typed on while this was on its way).
        return rx.call_script(f"window.__replyxSent && window.__replyxSent({_js_str(client_id)})")

    @event
    async def ask_human(self) -> Any:
        try:
            actor = await self._actor()
            current = await dialogs.open_dialog(actor)
            await turns.request_human(actor, current.id)
        except DomainError as exc:
            self._say(exc)
            return None
        await self._link(current.id)
        return None

    @event
    async def rate(self, score: int) -> None:
        try:
            actor = await self._actor()
            current = await dialogs.current_dialog(actor)
            live = await self.get_state(DialogLive)
            dialog_id = current.id if current is not None else live.dialog_id
            if not dialog_id:
                return
            # `rate` checks the dialog is this visitor's; a foreign id is refused there.
            await dialogs.rate(actor, dialog_id, int(score))
        except (DomainError, ValueError) as exc:
            if isinstance(exc, DomainError):
                self._say(exc)
            return
        self.rated = True
        await refresh_linked(self, dialog_id)

    @event
    async def leave_contact(self, form: dict[str, Any]) -> None:
        try:
            actor = await self._actor()
            current = await dialogs.open_dialog(actor)
            await dialogs.leave_contact(actor, current.id, str(form.get("name", "")),
                                        str(form.get("email", "")))
        except DomainError as exc:
            self._say(exc)
            return
        self.contact_sent = True
        self.notice = ""
        await refresh_linked(self, current.id)

    @event
    async def end_chat(self) -> None:
        """The visitor ends the conversation; the rating prompt follows."""
        try:
            actor = await self._actor()
            current = await dialogs.current_dialog(actor)
            if current is None:
                return
            await dialogs.close(actor, current.id, "the visitor ended the chat")
        except DomainError as exc:
            self._say(exc)
            return
        await refresh_linked(self, current.id)

    @event
    async def typing(self, active: bool) -> None:
        """The message box got or lost focus: operators watching see "typing…"."""
        live = await self.get_state(DialogLive)
        if not self._claims or not live.dialog_id:
            return
        try:
            actor = await self._actor()
            current = await dialogs.current_dialog(actor)
        except DomainError:
            return
        if current is None or current.id != live.dialog_id:
            return
        if bool(active):
            await dialogs.typing(actor, current.id)
        live.visitor_typing = bool(active)

    @event
    def close_widget(self) -> Any:
        if not self.host_origin:
            return None
        return rx.call_script(
            f"window.parent.postMessage({{type: 'replyx:close'}}, {_js_str(self.host_origin)})"
        )


def _js_str(value: str) -> str:
    """A JS string literal for a value we produced (an origin), escaped all the same."""
    return json.dumps(value)
