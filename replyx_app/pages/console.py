"""Operator console: presence, live queue / mine / all, the open conversation and its actions."""

from __future__ import annotations

from typing import Any

import reflex as rx
from reflex.vars import ObjectVar

from components.actions import action_button
from components.chat import message_bubble, typing_dots
from components.layout import role_at_least
from replyx_app.pages.registry import Nav, dashboard_page
from state.console import ConsoleState
from state.live import DialogItem, DialogLive, DialogNotesLive, InboxLive

# Beep and a desktop notification when the queue grows while the console is open. Runs in
# the operator's browser only; it watches the queue badge the server keeps current.
NOTIFY_SCRIPT = """
(function () {
  if (window.__replyxQueueWatch) return;
  window.__replyxQueueWatch = true;
  var last = null;
  function beep() {
    try {
      var ctx = new (window.AudioContext || window.webkitAudioContext)();
      var o = ctx.createOscillator(); var g = ctx.createGain();
      o.frequency.value = 880; g.gain.value = 0.08; o.connect(g); g.connect(ctx.destination);
      o.start(); o.stop(ctx.currentTime + 0.15);
    } catch (e) {}
  }
  setInterval(function () {
    var el = document.getElementById('queue-count');
    if (!el) { last = null; return; }
    var n = parseInt(el.textContent || '0', 10) || 0;
    document.title = (n ? '(' + n + ') ' : '') + 'Operator console · ReplyX';
    if (last !== null && n > last) {
      el.setAttribute('data-notified', String(n));
      beep();
      if (window.Notification && Notification.permission === 'granted') {
        new Notification('ReplyX', { body: n + ' conversation(s) waiting for a human' });
      }
    }
    last = n;
  }, 1000);
  if (window.Notification && Notification.permission === 'default') {
    document.addEventListener('click', function ask() {
      Notification.requestPermission(); document.removeEventListener('click', ask);
    });
  }
})();
"""

STATUS_COLORS = {"ai": "gray", "requested": "amber", "active": "green", "closed": "gray"}
_GREY_SMALL = {"size": "1", "color": rx.color("gray", 10)}


def _status_badge(status: rx.Var[str]) -> rx.Component:
    return rx.badge(
        rx.match(status, ("ai", "AI"), ("requested", "waiting"), ("active", "human"),
                 ("closed", "closed"), status),
        color_scheme=rx.match(status, ("requested", "amber"), ("active", "green"), "gray"),
        variant="soft", size="1",
    )


def _dot(background: Any, **props: Any) -> rx.Component:
    return rx.box(width="8px", height="8px", border_radius="50%", background=background, **props)


def _visible_in_tab(d: ObjectVar[DialogItem]) -> rx.Var[bool]:
    return rx.match(
        ConsoleState.tab,
        ("queue", d.status == "requested"),
        ("mine", (d.assigned_user_id == ConsoleState.my_user_id) & (d.status == "active")),
        True,
    )


def _unread(d: ObjectVar[DialogItem]) -> rx.Var[bool]:
    return ConsoleState.seen.get(d.id.to_string(), 0).to(int) < d.last_message_id.to(int)


def _waited(d: ObjectVar[DialogItem]) -> rx.Component:
    since = rx.moment(d.waiting_since, from_now_during=True, from_now=True, interval=15000,
                      without_suffix=True)
    return rx.cond(
        d.waiting_since != "",
        rx.text(rx.text("waiting ", as_="span"), since, size="1", color=rx.color("amber", 11),
                class_name="waited"),
        rx.cond(d.assigned_name != "", rx.text(d.assigned_name, **_GREY_SMALL)),
    )


def _inbox_row(d: ObjectVar[DialogItem]) -> rx.Component:
    return rx.cond(
        _visible_in_tab(d),
        rx.box(
            rx.hstack(
                rx.cond(_unread(d), _dot(rx.color("accent", 9), class_name="unread-dot")),
                rx.text(d.contact, weight="bold", size="2", trim="both"),
                rx.spacer(),
                _status_badge(d.status),
                align="center", spacing="2", width="100%",
            ),
            rx.text(d.preview, size="1", color=rx.color("gray", 11), trim="both",
                    overflow="hidden", text_overflow="ellipsis", white_space="nowrap"),
            rx.hstack(rx.text(d.assistant, " · ", d.channel, **_GREY_SMALL), rx.spacer(),
                      _waited(d), width="100%"),
            padding="0.6rem 0.75rem", border_radius="var(--radius-3)",
            background=rx.cond(ConsoleState.selected_id == d.id, rx.color("accent", 3),
                               "transparent"),
            _hover={"background": rx.color("gray", 3)}, cursor="pointer",
            on_click=ConsoleState.open(d.id), class_name="inbox-row",
            data_dialog_id=d.id.to(str), width="100%",
        ),
    )


def _segments(items: list[tuple[str, str]], value: Any, on_change: Any, element_id: str,
              **props: Any) -> rx.Component:
    return rx.segmented_control.root(
        *[rx.segmented_control.item(text, value=key) for text, key in items],
        value=value, on_change=on_change, size="1", id=element_id, **props,
    )


def _inbox() -> rx.Component:
    return rx.vstack(
        rx.hstack(
            rx.select(["online", "away", "offline"], value=ConsoleState.presence,
                      on_change=ConsoleState.set_presence, size="1", id="presence"),
            rx.spacer(),
            rx.badge(InboxLive.queue_count, id="queue-count", color_scheme="amber",
                     variant="solid"),
            width="100%", align="center",
        ),
        rx.cond(ConsoleState.sla_today != "",
                rx.text(ConsoleState.sla_today, **_GREY_SMALL, id="sla-today")),
        _segments([("Queue", "queue"), ("Mine", "mine"), ("All", "all")], ConsoleState.tab,
                  ConsoleState.set_tab, "inbox-tabs", width="100%"),
        rx.cond(
            InboxLive.dialogs.length() == 0,
            rx.text("No open conversations.", size="2", color=rx.color("gray", 10), padding="1rem"),
            rx.scroll_area(rx.vstack(rx.foreach(InboxLive.dialogs, _inbox_row), spacing="1"),
                           type="auto", scrollbars="vertical", flex="1"),
        ),
        width="20rem", min_width="16rem", height="100%", spacing="3", padding_right="0.75rem",
        border_right=f"1px solid {rx.color('gray', 5)}",
    )


def _menu(trigger: rx.Component, items: Any, empty: str, item: Any) -> rx.Component:
    """A drop-down of `items` (one `item(row)` each), saying `empty` when there are none."""
    return rx.menu.root(
        rx.menu.trigger(trigger),
        rx.menu.content(rx.cond(items.length() == 0, rx.menu.item(empty, disabled=True)),
                        rx.foreach(items, item)),
    )


def _teammate(t: ObjectVar[dict[str, Any]]) -> rx.Component:
    presence = rx.match(t["status"], ("online", rx.color("green", 9)),
                        ("away", rx.color("amber", 9)), rx.color("gray", 8))
    return rx.menu.item(
        rx.hstack(_dot(presence), rx.text(t["name"]), rx.text(t["status"], **_GREY_SMALL),
                  align="center", spacing="2"),
        on_click=ConsoleState.transfer(t["id"].to(str)),
    )


def _actions() -> rx.Component:
    mine = (DialogLive.status == "active") & (DialogLive.assigned_name == ConsoleState.user_name)
    return rx.hstack(
        _status_badge(DialogLive.status),
        rx.cond(DialogLive.assigned_name != "",
                rx.text(DialogLive.assigned_name, size="2", color=rx.color("gray", 11))),
        rx.spacer(),
        rx.cond(
            (DialogLive.status == "requested") | (DialogLive.status == "ai"),
            rx.button(rx.icon("hand", size=14), "Take over", size="2", on_click=ConsoleState.take,
                      id="take-over"),
        ),
        rx.cond(
            mine,
            rx.hstack(
                _menu(action_button("arrow_right_left", "Transfer", None, size="2",
                                    id="transfer"),
                      ConsoleState.teammates, "No teammates yet", _teammate),
                action_button("bot", "Hand back to AI", ConsoleState.release, size="2",
                              id="hand-back"),
                spacing="2",
            ),
        ),
        rx.cond(DialogLive.status != "closed",
                action_button("circle_check", "Close", ConsoleState.close, size="2",
                              color_scheme="gray", id="close-dialog")),
        width="100%", align="center", spacing="2", wrap="wrap",
    )


def _composer() -> rx.Component:
    can_reply = (DialogLive.status == "active") & (
        DialogLive.assigned_name == ConsoleState.user_name
    )
    canned = _menu(
        action_button("zap", "Canned", None, variant="ghost", type="button", id="canned"),
        ConsoleState.canned, "No canned responses yet",
        lambda c: rx.menu.item(rx.text("/", c["shortcut"], " — ", c["title"]),
                               on_click=ConsoleState.use_canned(c["body"])),
    )
    placeholder = rx.cond(ConsoleState.mode == "note",
                          "Note for your team (the visitor never sees it)",
                          rx.cond(can_reply, "Reply to the visitor…", "Take over to reply"))
    return rx.form(
        rx.vstack(
            rx.hstack(
                _segments([("Reply", "reply"), ("Internal note", "note")], ConsoleState.mode,
                          ConsoleState.set_mode, "composer-mode"),
                rx.spacer(), canned, width="100%", align="center",
            ),
            rx.hstack(
                rx.el.input(type="hidden", name="client_id", default_value=""),
                rx.text_area(name="text", id="console-input", rows="2", width="100%",
                             placeholder=placeholder, enter_key_submit=True, max_length=4000,
                             on_focus=ConsoleState.typing(True),
                             on_blur=ConsoleState.typing(False)),
                rx.button(rx.icon("send", size=16), type="submit", id="console-send",
                          disabled=~can_reply & (ConsoleState.mode == "reply")),
                width="100%", align="end",
            ),
            spacing="2", width="100%",
        ),
        on_submit=ConsoleState.send, reset_on_submit=False, width="100%",
    )


def _save_as_qa(m: Any) -> rx.Component:
    """An admin turns an operator's reply into a Q&A pair on the Knowledge page."""
    return rx.cond(
        (m.sender == "operator") & role_at_least("admin"),
        rx.link(rx.icon("book_plus", size=12), "Save as Q&A pair",
                href="/knowledge?reply=" + m.id.to(str), size="1", class_name="save-as-qa",
                display="inline-flex", align_items="center", gap="0.25rem", color="inherit",
                opacity="0.85"),
    )


def _transcript() -> rx.Component:
    streaming = rx.text(DialogLive.streaming, size="2", color=rx.color("gray", 11),
                        white_space="pre-wrap", id="console-streaming")
    return rx.vstack(
        _actions(),
        rx.cond(ConsoleState.taken_by != "",
                rx.callout(ConsoleState.taken_by, color_scheme="amber", size="1", id="taken-by",
                           width="100%")),
        rx.auto_scroll(
            rx.vstack(
                rx.foreach(DialogLive.messages,
                           lambda m: message_bubble(m, mine="operator", show_confidence=True,
                                                    extra=_save_as_qa)),
                rx.cond(DialogLive.streaming != "", streaming,
                        rx.cond(DialogLive.ai_typing, typing_dots("The AI is answering…"))),
                rx.cond(DialogLive.visitor_typing, typing_dots("The visitor is typing…")),
                spacing="2", width="100%", padding="0.5rem",
            ),
            flex="1", width="100%", id="console-messages",
            border=f"1px solid {rx.color('gray', 5)}", border_radius="var(--radius-3)",
        ),
        _composer(),
        flex="1", height="100%", spacing="3", min_width="0",
    )


def _detail(title: str, value: Any, **props: Any) -> rx.Component:
    return rx.data_list.item(rx.data_list.label(title), rx.data_list.value(value, **props))


def _or_dash(value: rx.Var[str]) -> rx.Var[str]:
    return rx.cond(value != "", value, "—")


def _details() -> rx.Component:
    c = ConsoleState
    first_reply = rx.cond(c.first_reply_seconds >= 0, rx.text(c.first_reply_seconds, " s"), "—")
    return rx.vstack(
        rx.heading("Details", size="3"),
        rx.data_list.root(
            _detail("Assistant", c.assistant),
            _detail("Channel", c.channel),
            _detail("E-mail", _or_dash(c.contact_email)),
            _detail("Handoff reason", _or_dash(c.handoff_reason)),
            _detail("First human reply", first_reply, id="sla-first-reply"),
            orientation="vertical", size="1",
        ),
        rx.heading("Internal notes", size="2"),
        rx.cond(DialogNotesLive.notes.length() == 0, rx.text("None yet.", **_GREY_SMALL)),
        rx.foreach(DialogNotesLive.notes, lambda m: message_bubble(m, mine="")),
        rx.heading("History", size="2"),
        rx.foreach(c.transitions,
                   lambda t: rx.text(t["from"], " → ", t["to"], " · ", t["who"], " · ",
                                     t["reason"], size="1", color=rx.color("gray", 11))),
        width="18rem", min_width="14rem", spacing="2", padding_left="0.75rem",
        border_left=f"1px solid {rx.color('gray', 5)}", height="100%", overflow_y="auto",
    )


@dashboard_page("/console", "Operator console", role="operator", on_load=[ConsoleState.load],
                nav=Nav("Operator console", "headset", 70))
def console_page() -> rx.Component:
    nothing_open = rx.center(
        rx.vstack(rx.icon("messages_square", size=32, color=rx.color("gray", 9)),
                  rx.text("Pick a conversation on the left.", color=rx.color("gray", 10)),
                  align="center"),
        flex="1", height="100%",
    )
    return rx.fragment(
        rx.script(NOTIFY_SCRIPT),
        # Heartbeat: presence stays alive while the tab is open; closing it ends the beats.
        rx.moment(interval=15000, on_change=ConsoleState.heartbeat, display="none"),
        rx.hstack(
            _inbox(),
            rx.cond(ConsoleState.selected_id == 0, nothing_open,
                    rx.hstack(_transcript(), _details(), flex="1", height="100%", spacing="0")),
            height="calc(100vh - 8rem)", width="100%", spacing="0",
        ),
    )
