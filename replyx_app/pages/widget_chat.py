"""The chat inside the iframe (`/widget?w=<public id>#t=<token>`).

No dashboard layout and no session: the visitor is identified by the token alone
(state/widget_chat.py). The page's frame-ancestors come from the widget's allowed origins
(replyx_app/middleware.py).
"""

from __future__ import annotations

import reflex as rx
from reflex.vars import StringVar

from components.chat import message_bubble, typing_dots
from replyx_app.pages.registry import bare_page
from state.live import DialogLive
from state.widget_chat import WidgetChatState

# Installed before Reflex's own scripts: in a cross-site iframe a browser that blocks
# third-party storage throws SecurityError on the first `localStorage` access, which
# crashes the app. The stand-in keeps the session in memory (the visitor's identity lives
# in the host page's storage, kept by the loader).
STORAGE_SHIM = """
(function () {
  function memoryStorage() {
    var data = Object.create(null);
    return {
      getItem: function (k) { return k in data ? data[k] : null; },
      setItem: function (k, v) { data[k] = String(v); },
      removeItem: function (k) { delete data[k]; },
      clear: function () { data = Object.create(null); },
      key: function (i) { return Object.keys(data)[i] || null; },
      get length() { return Object.keys(data).length; }
    };
  }
  ["localStorage", "sessionStorage"].forEach(function (name) {
    try { var s = window[name]; s.setItem("__rx_probe", "1"); s.removeItem("__rx_probe"); }
    catch (e) {
      Object.defineProperty(window, name, { value: memoryStorage(), configurable: true });
    }
  });
})();
"""


# Every message form carries a hidden `client_id`, made fresh in the browser at the moment
# of submitting (capture phase, before React reads the form): the server's retry
# protection keys on it, so it must differ for two quick messages yet stay the same when
# the socket re-sends the same event.
# How long a sent message may go without a word from the server before the visitor is
# told it is still on its way (a slow or lost connection, a frozen Redis).
PENDING_NOTICE_MS = 4000

# A message's client id belongs to its text until the server says it is stored: pressing
# Send again (the connection was slow, a worker died) sends the same id, so the message is
# stored once and, if its answer was lost, answered then. The server's acknowledgement
# (`__replyxSent`) empties the box only if it still holds that text — the visitor may have
# typed the next message meanwhile. A message with no word from the server for a few
# seconds shows "still sending…"; any reply of the server (`__replyxSettled`) hides it.
CLIENT_ID_SCRIPT = """
(function () {
  var timer = null;
  function newId() {
    return (window.crypto && crypto.randomUUID) ? crypto.randomUUID()
      : (Date.now().toString(36) + '-' + Math.random().toString(36).slice(2));
  }
  function pending(show) {
    var el = document.getElementById('widget-pending');
    if (el) el.style.display = show ? 'block' : 'none';  // over the class's display: none
  }
  function settled() { clearTimeout(timer); timer = null; pending(false); }
  document.addEventListener('submit', function (e) {
    var form = e.target;
    var idInput = form && form.querySelector && form.querySelector('input[name=client_id]');
    if (!idInput) return;
    var box = form.querySelector('input[name=text]');
    var text = box ? box.value.trim() : '';
    if (!text) return;
    if (!idInput.value || idInput.dataset.forText !== text) {
      idInput.value = newId();
      idInput.dataset.forText = text;
    }
    clearTimeout(timer);
    timer = setTimeout(function () { pending(true); }, __PENDING_MS__);
  }, true);
  window.__replyxSettled = settled;
  window.__replyxSent = function (clientId) {
    var idInput = document.querySelector('input[name=client_id]');
    var box = document.getElementById('widget-input');
    if (!idInput || idInput.value !== clientId) return;
    var same = box && box.value.trim() === idInput.dataset.forText;
    idInput.value = '';
    delete idInput.dataset.forText;
    if (same) box.value = '';
    settled();
  };
})();
""".replace("__PENDING_MS__", str(PENDING_NOTICE_MS))


def _s(key: str, fallback: str) -> StringVar:
    return WidgetChatState.s.get(key, fallback).to(str)


def _header() -> rx.Component:
    w = WidgetChatState
    status = rx.match(
        DialogLive.status,
        ("active", DialogLive.assigned_name),
        ("requested", _s("waiting_for_operator", "Waiting for an operator…")),
        _s("ai_label", "AI assistant"),
    )
    return rx.hstack(
        rx.cond(w.avatar_url != "", rx.avatar(src=w.avatar_url, size="2", radius="full"),
                rx.avatar(fallback="AI", size="2", radius="full")),
        rx.vstack(
            rx.text(w.title, weight="bold", size="3", id="widget-title", color="white"),
            rx.text(status, size="1", color="rgba(255,255,255,0.85)", id="widget-status"),
            spacing="0",
        ),
        rx.spacer(),
        rx.icon_button(rx.icon("x", size=18), variant="ghost", on_click=w.close_widget,
                       aria_label=_s("close", "Close chat"), style={"color": "white"}),
        background=w.color, padding="0.75rem 1rem", align="center", width="100%",
    )


def _assistant_text(text: rx.Var[str], **row: str) -> rx.Component:
    """A grey bubble on the left that is not a stored message (greeting, streaming answer)."""
    return rx.hstack(
        rx.box(rx.text(text, size="2", white_space="pre-wrap"), background=rx.color("gray", 3),
               padding="0.5rem 0.75rem", border_radius="var(--radius-4)", max_width="85%"),
        width="100%", **row,
    )


def _messages() -> rx.Component:
    typing = _s("typing", "{name} is typing…").replace("{name}", DialogLive.operator_typing)
    return rx.auto_scroll(
        rx.vstack(
            rx.cond(WidgetChatState.greeting != "",
                    _assistant_text(WidgetChatState.greeting,
                                    class_name="message message-greeting")),
            rx.foreach(DialogLive.messages,
                       lambda m: message_bubble(m, mine="visitor",
                                                sources_label=_s("sources", "Sources"))),
            rx.cond(DialogLive.streaming != "",
                    _assistant_text(DialogLive.streaming, id="widget-streaming"),
                    rx.cond(DialogLive.ai_typing, typing_dots(_s("ai_typing", "Typing…")))),
            rx.cond(DialogLive.operator_typing != "", typing_dots(typing)),
            spacing="2", width="100%", padding="0.75rem",
        ),
        flex="1", width="100%", id="widget-messages",
    )


def _rating() -> rx.Component:
    closed = DialogLive.status == "closed"
    stars = [rx.icon_button(rx.icon("star", size=16), variant="soft", size="2",
                            on_click=WidgetChatState.rate(n), aria_label=f"{n} of 5",
                            class_name=f"rate-{n}") for n in range(1, 6)]
    return rx.cond(
        closed & (DialogLive.rating == 0) & ~WidgetChatState.rated,
        rx.vstack(
            rx.text(_s("rate_prompt", "How was this conversation?"), size="2"),
            rx.hstack(*stars, spacing="1"),
            align="center", width="100%", padding="0.5rem", id="widget-rating",
        ),
        rx.cond(
            closed & ((DialogLive.rating > 0) | WidgetChatState.rated),
            rx.text(_s("thanks", "Thank you for your feedback!"), size="2", align="center",
                    width="100%", id="widget-thanks", padding="0.5rem"),
        ),
    )


def _contact_form() -> rx.Component:
    return rx.cond(
        DialogLive.awaiting_contact & ~WidgetChatState.contact_sent,
        rx.form(
            rx.vstack(
                rx.text(_s("offline", "Leave your email and we'll get back to you."), size="2"),
                rx.input(name="name", placeholder=_s("name_placeholder", "Name"), width="100%"),
                rx.input(name="email", type="email", placeholder=_s("email_placeholder", "Email"),
                         required=True, width="100%"),
                rx.button(_s("email_submit", "Send"), type="submit", width="100%"),
                spacing="2", padding="0.75rem", width="100%",
            ),
            on_submit=WidgetChatState.leave_contact, id="widget-contact",
        ),
        rx.cond(WidgetChatState.contact_sent,
                rx.text(_s("email_thanks", "Thanks!"), size="2", padding="0.5rem")),
    )


def _message_form() -> rx.Component:
    return rx.form(
        rx.hstack(
            rx.el.input(type="hidden", name="client_id", default_value=""),
            rx.input(name="text", id="widget-input",
                     placeholder=_s("input_placeholder", "Type a message…"), width="100%",
                     auto_complete="off", max_length=4000,
                     aria_label=_s("input_placeholder", "Message"),
                     on_focus=WidgetChatState.typing(True),
                     on_blur=WidgetChatState.typing(False)),
            rx.icon_button(rx.icon("send", size=16), type="submit", id="widget-send",
                           aria_label=_s("send", "Send"),
                           style={"background": WidgetChatState.color}),
            width="100%", spacing="2",
        ),
        on_submit=WidgetChatState.send, reset_on_submit=False, width="100%",
    )


def _composer() -> rx.Component:
    human = rx.button(rx.icon("user_round", size=14), _s("talk_to_human", "Talk to a human"),
                      variant="ghost", size="1", on_click=WidgetChatState.ask_human,
                      id="widget-human")
    end = rx.button(_s("end_chat", "End chat"), variant="ghost", size="1", color_scheme="gray",
                    on_click=WidgetChatState.end_chat, id="widget-end")
    return rx.vstack(
        rx.cond(WidgetChatState.notice != "",
                rx.callout(WidgetChatState.notice, color_scheme="amber", size="1", width="100%",
                           id="widget-notice")),
        rx.text(_s("still_sending", "Still sending…"), id="widget-pending", size="1",
                color=rx.color("amber", 11), role="status", style={"display": "none"}),
        _message_form(),
        rx.hstack(
            rx.cond((DialogLive.status != "requested") & (DialogLive.status != "active"), human),
            rx.spacer(),
            rx.cond(WidgetChatState.linked & (DialogLive.status != "closed"), end),
            width="100%",
        ),
        rx.text(_s("powered_by", "Powered by ReplyX"), size="1", color=rx.color("gray", 9),
                align="center", width="100%"),
        padding="0.5rem 0.75rem", width="100%", spacing="1",
        border_top=f"1px solid {rx.color('gray', 5)}",
    )


@bare_page("/widget", "Chat", on_load=[WidgetChatState.boot])
def widget_page() -> rx.Component:
    chat = rx.vstack(_header(), _messages(), _rating(), _contact_form(), _composer(),
                     spacing="0", height="100vh", width="100%")
    return rx.box(
        rx.cond(
            WidgetChatState.error != "",
            rx.center(rx.callout(WidgetChatState.error, color_scheme="red", id="widget-error"),
                      height="100vh", padding="1rem"),
            rx.cond(WidgetChatState.ready, chat,
                    rx.center(rx.spinner(size="3"), height="100vh")),
        ),
        background=rx.color("gray", 1),
    )
