"""Channels page: connect Telegram bots to assistants, see what each bot is doing, and
stop, start, restart, re-token, switch mode or disconnect it."""

from __future__ import annotations

from typing import Any

import reflex as rx
from reflex.vars import ObjectVar

from components.actions import action_button, row_actions
from components.dialogs import confirm_dialog, dialog_buttons, editor_dialog
from components.forms import error_callout, form_card, labelled
from components.panels import data_table, empty_state, hint, loading
from components.pickers import assistant_select
from replyx_app.pages.registry import Nav, dashboard_page
from state.channels import MODE_LABEL, ChannelsState

_STATUS_COLOR = {
    "running": "green",
    "starting": "blue",
    "stopping": "amber",
    "stopped": "gray",
    "error": "red",
    "offline": "orange",
}
REFRESH_MS = 5000


def _assistant_select(
    value: Any, on_change: Any, element_id: Any, size: str = "2"
) -> rx.Component:
    return assistant_select(
        ChannelsState.assistant_options,
        element_id,
        size=size,
        trigger={"width": "100%", "placeholder": "Choose an assistant"},
        value=value,
        on_change=on_change,
        disabled=False,
    )


def _connect_form() -> rx.Component:
    token = rx.input(id="bot-token", name="token", type="password", placeholder="123456789:AAH…",
                     auto_complete="off", spell_check=False, width="100%")
    mode = rx.segmented_control.root(
        rx.segmented_control.item("Long polling", value="polling"),
        rx.segmented_control.item("Webhook", value="webhook"),
        value=ChannelsState.new_mode, on_change=ChannelsState.set_new_mode, id="bot-mode",
    )
    return form_card(
        "Connect a Telegram bot",
        hint(
            "In Telegram, open ",
            rx.link("@BotFather", href="https://t.me/BotFather", is_external=True),
            ", send /newbot (or /token for a bot you have) and paste the token it "
            "gives you. The token is checked with Telegram and stored encrypted; "
            "nobody sees it again.",
        ),
        error_callout(ChannelsState.form_error),
        rx.grid(
            labelled("Bot token", "bot-token", token),
            labelled("Answers as", "bot-assistant", _assistant_select(
                ChannelsState.new_assistant_id, ChannelsState.set_new_assistant, "bot-assistant")),
            columns=rx.breakpoints(initial="1", md="2"), spacing="3", width="100%",
        ),
        labelled("How the bot receives messages", "bot-mode", mode,
                 "Long polling works everywhere. Webhooks need this app to be reachable from "
                 "the internet over HTTPS and scale further.", width=None),
        rx.button(
            rx.icon("plug", size=16),
            rx.cond(ChannelsState.adding, "Checking with Telegram…", "Connect bot"),
            type="submit", id="bot-connect", loading=ChannelsState.adding,
            on_click=ChannelsState.mark_adding,
        ),
        on_submit=ChannelsState.add, reset_on_submit=False,
        stack={"width": "100%", "align": "start"},
    )


def _status(b: ObjectVar[dict[str, Any]]) -> rx.Component:
    def badge(key: str, color: str) -> rx.Component:
        return rx.badge(rx.cond(key == "running", rx.icon("circle_check", size=12), ""),
                        b["status_label"], color_scheme=color, variant="soft",
                        class_name="bot-status")

    return rx.vstack(
        rx.match(b["status"], *[(key, badge(key, color)) for key, color in _STATUS_COLOR.items()],
                 rx.badge(b["status_label"], class_name="bot-status")),
        rx.cond(b["error"] != "", rx.text(b["error"], size="1", color=rx.color("red", 11),
                                          max_width="16rem", class_name="bot-error")),
        spacing="1",
    )


def _row(b: ObjectVar[dict[str, Any]]) -> rx.Component:
    bot_id = b["id"].to(int)
    username = b["username"].to(str)
    mode = rx.select.root(
        rx.select.trigger(id="bot-mode-" + b["id"].to(str)),
        rx.select.content(*[rx.select.item(text, value=key) for key, text in MODE_LABEL.items()]),
        value=b["mode"].to(str), on_change=lambda v: ChannelsState.change_mode(bot_id, v),
        size="1",
    )
    return rx.table.row(
        rx.table.cell(rx.vstack(
            rx.link("@", username, href=b["link"].to(str), is_external=True, weight="medium",
                    class_name="bot-link"),
            rx.text(b["name"], size="1", color_scheme="gray"),
            spacing="0",
        )),
        rx.table.cell(_assistant_select(b["assistant_id"].to(str),
                                        lambda v: ChannelsState.change_assistant(bot_id, v),
                                        "bot-assistant-" + b["id"].to(str), size="1")),
        rx.table.cell(mode),
        rx.table.cell(_status(b)),
        rx.table.cell(rx.cond(
            b["last_activity"] != "",
            rx.moment(b["last_activity"].to(str), from_now=True, class_name="bot-activity"),
            rx.text("—", color_scheme="gray", class_name="bot-activity"),
        )),
        rx.table.cell(rx.text(b["messages_today"], class_name="bot-today")),
        rx.table.cell(row_actions(
            rx.cond(b["running"],
                    action_button("square", "Stop", ChannelsState.set_running(bot_id, False),
                                  color_scheme="gray"),
                    action_button("play", "Start", ChannelsState.set_running(bot_id, True),
                                  color_scheme="green")),
            action_button("rotate_cw", "Restart", ChannelsState.restart(bot_id)),
            action_button("key_round", "Token", ChannelsState.open_token_dialog(bot_id, username),
                          color_scheme="gray"),
            action_button("trash_2", "Delete", ChannelsState.ask_delete(bot_id, username),
                          color_scheme="red"),
            wrap="wrap",
        )),
        class_name="bot-row", id="bot-" + b["id"].to(str), align="center",
    )


def _table() -> rx.Component:
    return data_table(
        ("Bot", "Answers as", "Mode", "Status", "Last activity", "Messages today", ""),
        ChannelsState.bots,
        _row,
        id="bots-table",
    )


def _empty() -> rx.Component:
    return empty_state(
        "send",
        rx.text("No Telegram bots yet.", weight="medium"),
        hint("Paste a token above to connect your first bot."),
        spacing="2",
        id="bots-empty",
    )


def _delete_confirm() -> rx.Component:
    return confirm_dialog(
        ["Disconnect @", ChannelsState.confirm_delete_name, "?"],
        "The bot stops answering and its token is deleted from ReplyX. Its "
        "conversations stay in Dialogs. You can connect it again later with its "
        "token.",
        confirm="Disconnect",
        on_confirm=ChannelsState.delete(ChannelsState.confirm_delete_id),
        on_cancel=ChannelsState.cancel_delete,
        open=ChannelsState.confirm_delete_id != 0,
    )


def _token_dialog() -> rx.Component:
    return editor_dialog(
        ["New token for @", ChannelsState.token_dialog_name],
        rx.dialog.description("After /revoke in @BotFather the old token stops working. Paste "
                              "the new token of the same bot here.", size="2"),
        rx.form(
            rx.vstack(
                error_callout(ChannelsState.token_error, id="token-error"),
                rx.input(id="replace-token", name="token", type="password",
                         placeholder="123456789:AAH…", auto_complete="off", width="100%",
                         auto_focus=True),
                dialog_buttons("Save token", "replace-token-save", spacing="3"),
                spacing="3", margin_top="1rem",
            ),
            on_submit=ChannelsState.replace_token, reset_on_submit=True,
        ),
        open=ChannelsState.token_dialog_id != 0,
        on_open_change=ChannelsState.set_token_dialog_open,
        max_width="30rem",
    )


@dashboard_page("/channels", "Channels", role="admin", on_load=[ChannelsState.load],
                nav=Nav("Channels", "radio_tower", 90))
def channels_page() -> rx.Component:
    return rx.vstack(
        rx.text("Put your assistants on Telegram as bots. Your website chat is set up on the ",
                rx.link("Widget", href="/widget-settings"), " tab.", color_scheme="gray"),
        rx.cond(
            ChannelsState.loaded & (ChannelsState.assistant_options.length() == 0),
            rx.callout(rx.text("Create an assistant first: a bot answers as one of them. ",
                               rx.link("Go to Assistants", href="/assistants")),
                       icon="info", width="100%"),
            _connect_form(),
        ),
        rx.hstack(rx.heading("Telegram bots", size="4"), rx.spacer(),
                  hint("Statuses refresh every few seconds."), width="100%", align="end"),
        rx.cond(
            ~ChannelsState.loaded,
            loading(),
            rx.fragment(
                rx.cond(ChannelsState.bots.length() == 0, _empty(), _table()),
                rx.moment(interval=REFRESH_MS, on_change=ChannelsState.refresh, display="none"),
            ),
        ),
        _delete_confirm(),
        _token_dialog(),
        spacing="4", width="100%",
    )
